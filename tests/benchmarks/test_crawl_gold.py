"""The crawl-page gold (benchmarks/gold/crawl_gold.jsonl.gz): every row finds its page in the sample archives, its
lines are lines of that page in page order, and the scorer's F1 rules hold."""

from __future__ import annotations


def test_every_gold_row_is_lines_of_its_page(bench, shared):
    shared("warc", "samples")
    cg = bench("crawl_gold")
    gold = cg.load_crawl_gold()
    found = 0
    for archive, page in bench("extraction_crawl").crawl_pages():
        row = gold.get(cg.page_key(archive, page))
        if row is None:
            continue
        found += 1
        lines = cg.page_lines(page)
        labelled = row["main_lines"] + row["comment_lines"]
        assert set(labelled) <= set(lines), row["url"]
        rest = iter(lines)
        assert all(line in rest for line in row["main_lines"]), row["url"]  # a subsequence: page order
    assert found == len(gold) == 171


def test_scorer_rules(bench):
    sc = bench("extraction_crawl_gold")
    assert sc.f1("", "") == 1.0 and sc.f1("menu", "") == 0.0  # an error page: nothing is right
    assert sc.f1("a b", "a b") == 1.0 and 0 < sc.f1("a b c d", "a b") < 1
    row = {"main_lines": ["a"], "comment_lines": ["b"]}
    assert [sc.gold_text(row, fields) for fields in sc.CONVENTIONS.values()] == ["a", "a\nb"]
