"""`benchmarks/gpu_check.py --tiny` on CPU: every section runs and the JSON holds its figures (so the GPU script
cannot rot between the sessions that have a GPU)."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_gpu_check_tiny_runs_every_section(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    gpu_check = bench("gpu_check")
    out = tmp_path / "gpu_check.json"
    report = gpu_check.main(["--tiny", "--out", str(out)])
    assert json.loads(out.read_text()) == report
    sections = report["sections"]
    assert not [name for name, result in sections.items() if "error" in result], sections
    clip = sections["clip"]["tiny"]
    assert clip["op_images_per_s"] > 0 and clip["loader_images_per_s"] > 0
    first, last = sections["kmeans"]["mean_cosine_first_last"]
    assert last >= first  # Lloyd iterations never lower the objective
    train = sections["train"]
    assert train["tokens_per_s"] > 0 and train["timed_steps"] == 2 and train["final_loss"] > 0
