"""MetaCLIP counts on a 2-node Ray cluster, and after a SIGKILL of the driver inside the balance stage + resume,
equal the single-process count; the outputs equal the embedded run's."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from curation.recipe import load_recipe
from curation.runner.run import run_recipe
from tests.cli_process import curate, run_on_two_nodes, sets

from .conftest import metaclip_overrides, output_rows, single_process_counts, stage_file

pytestmark = pytest.mark.slow


def _check(out, reference_run, reference_matches) -> None:
    counts = np.load(stage_file(out, "entry_count.npy"))
    assert np.array_equal(counts, single_process_counts(reference_matches, len(counts)))
    assert output_rows(out) == output_rows(reference_run.output)


def test_two_node_cluster_counts_equal_a_single_process_count(
    reference_run, reference_matches, wordnet_metadata, pool, tmp_path
):
    out = tmp_path / "cluster"
    overrides = metaclip_overrides(wordnet_metadata, pool, t=20)
    run_on_two_nodes("run", "pipelines/metaclip.yaml", "--output", str(out), *sets(overrides))
    _check(out, reference_run, reference_matches)


def test_resume_after_sigkill_inside_the_balance_stage(
    reference_run, reference_matches, wordnet_metadata, pool, tmp_path
):
    out = tmp_path / "killed"
    overrides = [*metaclip_overrides(wordnet_metadata, pool, t=20), "execution.max_workers=1"]
    proc = curate("run", "pipelines/metaclip.yaml", "--output", str(out), *sets(overrides))
    work = out / "_work" / "p01_stage_metaclip_balance"
    deadline = time.time() + 300
    while time.time() < deadline and not list((work / "intermediate" / "counts").glob("f*.npz")):
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (work / "_SUCCESS.json").exists() and not (out / "_manifest.json").exists(), "killed too late"
    partials = len(list((work / "intermediate" / "counts").glob("f*.npz")))
    resumed = run_recipe(load_recipe("pipelines/metaclip.yaml", overrides), output=str(out), resume=True)
    _check(out, reference_run, reference_matches)
    assert resumed.stats["totals"] == reference_run.stats["totals"], (
        f"killed with {partials} of 8 partial counts"
    )
