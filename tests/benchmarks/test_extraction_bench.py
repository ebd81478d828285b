"""Smoke test of benchmarks/extraction.py: the token metric, and a run on a few demo pages against the gold."""

from __future__ import annotations

import json

import pytest


def test_token_metric_is_a_multiset_overlap(bench):
    ex = bench("extraction")
    assert ex.tokens("Hello, World! 日本語 x2") == ["hello", "world", "日", "本", "語", "x2"]
    overlap, n_pred, n_gold = ex.token_prf("a a b c", "a b b d")
    assert (overlap, n_pred, n_gold) == (2, 4, 4)  # one "a", one "b"
    assert ex.prf(overlap, n_pred, n_gold) == (0.5, 0.5, 0.5)
    assert ex.prf(0, 0, 3) == (0.0, 0.0, 0.0)
    assert ex.snippet_score("Main  text\nhere", ["text here"], ["menu"]) == (1, 1, 1, 1)


def test_extraction_benchmark_runs_on_a_few_pages(bench, shared, tmp_path):
    shared("extraction", "scrapinghub_aeb.jsonl.gz")
    ex = bench("extraction")
    out = tmp_path / "extraction.json"
    payload = ex.main(
        ["--quick", "--limit", "6", "--engines", "resiliparse,trafilatura,blocks", "--out", str(out)]
    )
    saved = json.loads(out.read_text())
    assert saved["engines"].keys() == {"resiliparse", "trafilatura", "blocks"}
    for res in payload["engines"].values():
        assert res["pages"] == 6 and res["errors"] == 0
        aeb = res["scores"]["scrapinghub_aeb"]
        assert 0.5 < aeb["macro"]["f"] <= 1.0


def test_unknown_engine_is_a_clear_error(bench):
    ex = bench("extraction")
    with pytest.raises(SystemExit, match="unknown engine"):
        ex.build_engines(["nope"])


def test_other_gold_by_url_or_record_id(bench, tmp_path, capsys):
    """`--gold`: every JSONL of the folder is a set, rows found by URL or by record id, and the pooled figure is
    over every gold-text page. Gold equal to an engine's own output scores 1.0; other text scores less."""
    ex = bench("extraction")
    demo = ex.pick_warc(quick=True)
    pages = list(ex.read_pages(demo, limit=3))
    own = ex.op_engine("resiliparse")
    gold_dir = tmp_path / "gold"
    gold_dir.mkdir()
    (gold_dir / "by_url.jsonl").write_text(
        json.dumps({"url": pages[0].url, "gold_text": own(pages[0])})
        + "\n"
        + json.dumps({"url": pages[1].url, "gold_text": "zqxv qvzx xzqv"})
        + "\n"
    )
    (gold_dir / "snippets.jsonl").write_text(
        json.dumps({"record_id": pages[2].record_id, "with": [], "without": ["a snippet of no page"]}) + "\n"
    )
    payload = ex.main(
        ["--warc", str(demo), "--gold", str(gold_dir), "--limit", "3", "--engines", "resiliparse"]
        + ["--out", str(tmp_path / "out.json")]
    )
    res = payload["engines"]["resiliparse"]
    assert res["scores"]["by_url"]["pages"] == 2 and res["all_gold_text"]["pages"] == 2
    assert res["all_gold_text"]["macro"]["f"] == pytest.approx(0.5)  # 1.0 and 0.0
    assert res["scores"]["snippets"]["without_absent"] == 1.0
    assert "by_url F1 (P/R)" in capsys.readouterr().out


def test_dataset_folds_test_each_gold_dataset_on_the_others(bench):
    blocks_bench = bench("extraction_blocks")
    rows = [{"dataset": d} for d in ("aeb", "readability", "aeb", "crawl")]
    folds = [(train.tolist(), test.tolist()) for train, test in blocks_bench.dataset_folds(rows)]
    assert folds == [([1, 3], [0, 2]), ([0, 1, 2], [3]), ([0, 2, 3], [1])]
