"""The line-labelled gold sets of benchmarks/gold: every row finds its page (the crawl gold in the sample archives,
the comments gold in the visible pages), its lines are lines of that page in page order, and the scorer's F1 rules
hold."""

from __future__ import annotations


def _rows_are_lines_of_their_pages(cg, gold: dict, pages) -> int:
    found = cg.gold_pages(gold, pages)
    for page, row in found:
        lines = cg.page_lines(page)
        assert set(row["main_lines"] + row["comment_lines"]) <= set(lines), row["url"]
        rest = iter(lines)
        assert all(line in rest for line in row["main_lines"]), row["url"]  # a subsequence: page order
    return len(found)


def test_every_crawl_gold_row_is_lines_of_its_page(bench, shared):
    shared("warc", "samples")
    cg = bench("crawl_gold")
    gold = cg.load_crawl_gold()
    assert (
        _rows_are_lines_of_their_pages(cg, gold, bench("extraction_crawl").crawl_pages()) == len(gold) == 231
    )


def test_every_comments_gold_row_is_lines_of_its_page(bench, shared):
    shared("warc", "visible_pages.warc.gz")
    cg, com = bench("crawl_gold"), bench("comments_gold")
    gold = cg.load_crawl_gold(com.GOLD_FILE)
    pages = (
        (com.ARCHIVE, page) for page in bench("extraction").read_pages(bench("common").pick_warc(False, None))
    )
    assert _rows_are_lines_of_their_pages(cg, gold, pages) == len(gold) == 60
    assert sum(bool(row["comment_lines"]) for row in gold.values()) == 16


def test_scorer_rules(bench):
    sc = bench("extraction_crawl_gold")
    assert sc.f1("", "") == 1.0 and sc.f1("menu", "") == 0.0  # an error page: nothing is right
    assert sc.f1("a b", "a b") == 1.0 and 0 < sc.f1("a b c d", "a b") < 1
    row = {"main_lines": ["a"], "comment_lines": ["b"]}
    assert [sc.gold_text(row, fields) for fields in sc.CONVENTIONS.values()] == ["a", "a\nb"]
