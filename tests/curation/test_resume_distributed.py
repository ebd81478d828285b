"""Resume after a SIGKILL of the driver equals an uninterrupted run; a 2-node Ray cluster equals embedded Ray."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pyarrow.dataset as pads
import pytest

from curation.recipe import load_recipe
from curation.runner.run import run_recipe
from tests.cli_process import curate, run_on_two_nodes, sets

from .conftest import DEMO_OVERRIDES

pytestmark = pytest.mark.slow

OVERRIDES = ["input.unit_bytes=300000", "output.shard_rows=40", "execution.max_workers=1"]


def _rows(out: Path) -> list[tuple]:
    table = pads.dataset(out / "data", format="parquet").to_table()
    return list(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))


def _inputs(tmp_path: Path) -> Path:
    """Three real WARC files (the demo pages, and two copies under other names)."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.warc.gz", "b.warc.gz", "c.warc.gz"):
        shutil.copy("data/warc/demo.warc.gz", src / name)
    return src


def test_resume_after_sigkill_gives_the_uninterrupted_output(ray_local, tmp_path):
    src = _inputs(tmp_path)
    overrides = [*OVERRIDES, f"input.paths=['{src}/*.warc.gz']"]
    reference = run_recipe(load_recipe("pipelines/refinedweb.yaml", overrides), output=str(tmp_path / "ref"))

    out = tmp_path / "killed"
    proc = curate("run", "pipelines/refinedweb.yaml", "--output", str(out), *sets(overrides))
    units_dir = out / "_work" / "p00_segment" / "units"
    total_units = None
    deadline = time.time() + 300
    while time.time() < deadline:
        if total_units is None and (out / "_work" / "units.json").exists():
            import json

            total_units = len(json.loads((out / "_work" / "units.json").read_text()))
        done = len(list(units_dir.glob("*.json"))) if units_dir.exists() else 0
        if total_units and done >= 3:
            break
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(units_dir.glob("*.json")))
    assert 3 <= finished < total_units, "the kill must land in the middle of the segment"
    assert not (out / "_manifest.json").exists()

    resumed = run_recipe(load_recipe("pipelines/refinedweb.yaml", overrides), output=str(out), resume=True)
    rows = _rows(resumed.output)
    assert rows == _rows(reference.output)
    assert len({r[0] for r in rows}) == len(rows)  # no duplicate ids
    assert [s["sha256"] for s in resumed.manifest["shards"]] == [
        s["sha256"] for s in reference.manifest["shards"]
    ]
    assert resumed.stats["totals"] == reference.stats["totals"]


def test_two_node_cluster_gives_the_embedded_output(demo_run, tmp_path):
    out = tmp_path / "cluster"
    run_on_two_nodes("run", "pipelines/refinedweb.yaml", "--output", str(out), *sets(DEMO_OVERRIDES))
    assert _rows(tmp_path / "cluster") == _rows(demo_run.output)
