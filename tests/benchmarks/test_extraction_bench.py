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
    engines = "resiliparse,trafilatura,blocks,trafilatura_defaults"
    payload = ex.main(["--quick", "--limit", "6", "--engines", engines, "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["engines"].keys() == set(engines.split(","))
    for res in payload["engines"].values():
        assert res["pages"] == 6 and res["errors"] == 0
        aeb = res["scores"]["scrapinghub_aeb"]
        assert 0.5 < aeb["macro"]["f"] <= 1.0
    compared = saved["against_plain_trafilatura"]
    assert compared["trafilatura_defaults"]["f1_minus_reference"] == 0.0
    assert compared["trafilatura_defaults"]["speed_ratio"] == 1.0
    for name, res in payload["engines"].items():
        f1 = (
            res["all_gold_text"]["macro"]["f"]
            - payload["engines"]["trafilatura_defaults"]["all_gold_text"]["macro"]["f"]
        )
        low, high = compared[name]["interval"]
        assert (
            abs(compared[name]["f1_minus_reference"] - f1) < 1e-9 and low <= f1 + 1e-9 and f1 - 1e-9 <= high
        )


def test_comparison_with_plain_trafilatura_reads_the_goal_off_f1_and_speed(bench):
    ex = bench("extraction")

    def result(page_f1: list[float], speed: float) -> dict:
        return {"all_gold_text": {"page_f1": page_f1}, "pages_per_cpu_s": speed}

    results = {
        "trafilatura_defaults": result([0.8, 0.6, 0.9, 0.7], 50.0),
        "fast_and_better": result([0.9, 0.7, 0.9, 0.7], 300.0),
        "fast_and_worse": result([0.7, 0.6, 0.9, 0.7], 300.0),
        "better_but_slow": result([0.9, 0.7, 0.9, 0.7], 200.0),
    }
    compared = ex.against_reference(results, ["a.com", "a.com", "b.org", "c.net"])
    assert {name: c["meets_goal"] for name, c in compared.items()} == {
        "trafilatura_defaults": False,  # not 5x itself
        "fast_and_better": True,
        "fast_and_worse": False,
        "better_but_slow": False,
    }
    assert round(compared["fast_and_better"]["f1_minus_reference"], 9) == 0.05
    assert compared["fast_and_better"]["speed_ratio"] == 6.0
    low, high = compared["fast_and_better"]["interval"]
    assert 0.0 <= low < 0.05 < high <= 0.1  # site a.com carries the whole gain: some draws leave it out
    assert "| fast_and_worse | -2.5 |" in ex.comparison_table(compared)
    assert ex.against_reference({"blocks": results["fast_and_better"]}, ["a.com"] * 4) == {}


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
