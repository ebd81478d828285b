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
