"""scripts/e2e_curate_train.sh end to end: a real img2dataset pool -> curate (pairs, conversations, preference
pairs) -> train align / instruct / dpo -> export -> generation in plain transformers; the trainer drops nothing
from the curated shards and every curation run keeps the accounting identity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_process import communicate_or_kill

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_pool_to_exported_model_generates(shared, tmp_path):
    pool = shared("images", "pairs_sample.parquet")
    evalset = shared("images", "coco_mini", "annotations", "captions_val2017.json")
    env = {**os.environ, "PYTHON": sys.executable, "E2E_STEPS": "2"}
    cmd = [
        "bash",
        str(REPO / "scripts" / "e2e_curate_train.sh"),
        str(tmp_path / "e2e"),
        str(pool),
        str(evalset),
    ]
    with subprocess.Popen(
        cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    ) as proc:
        out, _ = communicate_or_kill(proc, 840)
    assert proc.returncode == 0, out[-8000:]
    for run in ("align", "instruct", "dpo"):
        assert f"{run}: 2 steps, trainer drops none" in out
    assert "generated:" in out
    work = tmp_path / "e2e"
    for name in ("pairs", "conversations", "preferences"):
        stats = json.loads((work / name / "stats.json").read_text())
        assert stats["totals"]["identity_holds"] and stats["totals"]["output_rows"] > 0, name
    steps = {s["step"]: s for s in json.loads((work / "conversations" / "stats.json").read_text())["steps"]}
    assert (
        steps["decontaminate"]["dropped"].get("decontaminate:text_overlap", 0) > 0
    )  # COCO val is in the pool
    assert (work / "export" / "llava" / "config.json").is_file()
