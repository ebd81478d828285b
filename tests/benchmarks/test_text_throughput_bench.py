"""Smoke tests of benchmarks/text_throughput.py on a few pages of the bundled demo WARC."""

from __future__ import annotations

import json

import pytest

from curation.ops import REGISTRY
from curation.ops.base import Stage


def test_recipe_without_stages(bench, tmp_path):
    tt = bench("text_throughput")
    common = bench("common")
    recipe = tt.throughput_recipe(common.DEMO_WARC, 2, tmp_path / "out")
    ops = [s.op for s in recipe.steps]
    assert "html_extract" in ops and "language_id" in ops
    assert not any(issubclass(REGISTRY[op], Stage) for op in ops)
    assert recipe.max_workers == 2 and recipe.input_paths == [str(common.DEMO_WARC)]
    engines = [s.params.get("engine") for s in recipe.steps if s.op == "html_extract"]
    assert engines == ["resiliparse"]  # the recipe's own
    other = tt.throughput_recipe(common.DEMO_WARC, 1, tmp_path / "o", engine="trafilatura")
    assert [s.params.get("engine") for s in other.steps if s.op == "html_extract"] == ["trafilatura"]


def test_repeated_warc_holds_every_page_copies_times(bench, tmp_path, monkeypatch):
    tt = bench("text_throughput")
    common = bench("common")
    monkeypatch.setattr(tt.tempfile, "gettempdir", lambda: str(tmp_path))
    assert tt.repeated_warc(common.DEMO_WARC, 1) == common.DEMO_WARC
    tripled = tt.repeated_warc(common.DEMO_WARC, 3)
    assert tripled.parent.parent == tmp_path
    assert tt.count_responses(tripled) == 3 * tt.count_responses(common.DEMO_WARC)


def test_isolated_ops_time_every_step(bench, tmp_path):
    tt = bench("text_throughput")
    common = bench("common")
    res = tt.child_isolated(common.DEMO_WARC, tmp_path, limit=8, engine="resiliparse")
    assert res["docs"] == 8
    assert set(res["seconds"]) == {
        "read",
        "url_filter",
        "html_extract",
        "language_id",
        "badwords_filter",
        "gopher_repetition",
        "gopher_quality",
        "refinedweb_lines",
    }
    assert res["sum_s"] > 0


@pytest.mark.slow
def test_datatrove_side_runs_offline(bench, tmp_path):
    pytest.importorskip("datatrove", reason="datatrove is the `bench` extra (pip install -e '.[bench]')")
    pytest.importorskip("spacy", reason="datatrove tokenises English with spaCy")
    tt = bench("text_throughput")
    out = tmp_path / "tt.json"
    tt.main(
        [
            "--quick",
            "--limit",
            "4",
            "--workers",
            "1",
            "--repeat",
            "1",
            "--systems",
            "datatrove",
            "--extraction-json",
            str(tmp_path / "none.json"),
            "--out",
            str(out),
        ]
    )
    run = json.loads(out.read_text())["runs"]["datatrove@1"][0]
    assert run["docs"] == 4 and run["extractor_timeouts"] == 0
    assert run["peak_rss_per_worker_mib"] > 0 and run["docs_per_s_per_core"] > 0


@pytest.mark.slow
def test_ours_side_runs_on_ray(bench, tmp_path):
    tt = bench("text_throughput")
    out = tmp_path / "tt.json"
    tt.main(
        [
            "--quick",
            "--limit",
            "2",
            "--workers",
            "1",
            "--repeat",
            "1",
            "--systems",
            "ours",
            "--no-isolated",
            "--extraction-json",
            str(tmp_path / "none.json"),
            "--out",
            str(out),
        ]
    )
    run = json.loads(out.read_text())["runs"]["ours@1"][0]
    assert run["docs"] >= 2 and run["peak_rss_per_worker_mib"] > 0
