"""How a segment runs on Ray: each worker process builds the ops once and keeps them for every later unit."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from curation.recipe import parse_recipe
from curation.runner.run import run_recipe
from curation.runner.segment import SegmentSpec, process_units, processor_for

DEMO_WARC = Path(__file__).resolve().parents[2] / "data" / "warc" / "demo.warc.gz"


def _url_filter_spec(phase_dir: Path) -> SegmentSpec:
    recipe = parse_recipe({"name": "n", "input": {"paths": [str(DEMO_WARC)]}, "steps": [{"url_filter": {}}]})
    return SegmentSpec(str(phase_dir), recipe.steps, source=False)


def test_plugin_ops_build_once_per_worker_process(ray_local, tmp_path):
    recipe = parse_recipe(
        {
            "name": "builds",
            "plugins": ["mmcurate_test_ops"],
            "input": {"paths": [str(DEMO_WARC)], "unit_bytes": 200_000},
            "steps": [{"record_builds": {}}],
        }
    )
    result = run_recipe(recipe, output=str(tmp_path / "out"))
    units = json.loads((tmp_path / "out" / "_work" / "units.json").read_text())
    built_by = pads.dataset(result.output / "data", format="parquet").to_table().column("built_by")
    instances_by_pid = defaultdict(set)
    for tag in built_by.to_pylist():
        pid, instance = tag.split(":")
        instances_by_pid[pid].add(instance)
    assert result.stats["totals"]["output_rows"] == 152  # the 152 responses (warcinfo skipped)
    assert len(units) > 2 * len(instances_by_pid), "units were spread over more processes than workers"
    assert all(len(ids) == 1 for ids in instances_by_pid.values()), dict(instances_by_pid)


def test_a_process_keeps_one_segment_and_replaces_it_for_the_next(tmp_path):
    first, second = _url_filter_spec(tmp_path / "a"), _url_filter_spec(tmp_path / "b")
    built = processor_for(first)
    assert processor_for(first) is built
    assert processor_for(second) is not built and processor_for(first) is not built  # one at a time, rebuilt


def test_process_units_writes_each_unit_once_and_returns_its_summary(tmp_path):
    phase_input = tmp_path / "in.parquet"
    pq.write_table(pa.table({"url": ["http://a.example/x", None], "_order": [0, 1]}), phase_input)
    spec = _url_filter_spec(tmp_path / "phase")
    out = process_units(pa.table({"key": ["k0"], "path": [str(phase_input)]}), spec)
    assert out.to_pylist() == [{"key": "k0", "rows": 2}]
    marker = json.loads((tmp_path / "phase" / "units" / "k0.json").read_text())
    assert marker["rows"] == 2 and marker["steps"][0]["in"] == 2
    phase_input.unlink()  # a retried task finds the unit's marker and does not read its input again
    assert (
        process_units(pa.table({"key": ["k0"], "path": [str(phase_input)]}), spec).to_pylist()
        == out.to_pylist()
    )


def test_backpressure_is_off_only_while_a_segment_runs():
    import ray.data

    from curation.runner.segment import BACKPRESSURE_POLICIES, _without_backpressure

    ctx = ray.data.DataContext.get_current()
    assert ctx.get_config(BACKPRESSURE_POLICIES, None) is None
    with _without_backpressure():
        assert ctx.get_config(BACKPRESSURE_POLICIES) == []
    assert ctx.get_config(BACKPRESSURE_POLICIES, None) is None  # Ray Data's defaults again, for the stages
    ctx.set_config(BACKPRESSURE_POLICIES, ["a user's choice"])
    try:
        with _without_backpressure():
            assert ctx.get_config(BACKPRESSURE_POLICIES) == []
        assert ctx.get_config(BACKPRESSURE_POLICIES) == ["a user's choice"]
    finally:
        ctx.remove_config(BACKPRESSURE_POLICIES)
