"""`curate bench` end to end on a small Fashion-MNIST pool: scored once, strategies trained with open_clip_train
at equal samples seen, zero-shot on t10k; bad strategies and tasks reported; kill mid-training + --resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("open_clip_train.main")

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]
SAMPLES = 512


def _bench(fm: Path, out: Path, parallel: int = 1) -> dict:
    return {
        "name": "tiny_ci",
        "output": str(out),
        "parallel": parallel,  # trainings at once, each on its one thread; a resume may change it
        "scale": "tiny",
        "scale_overrides": {"samples_seen": SAMPLES, "batch_size": 128, "warmup": 2},
        "seeds": [0],
        "threads": 1,  # one torch thread: steady on a busy machine
        "samples_per_shard": 500,
        "pool": {
            "fashion_mnist": {"root": str(fm), "teacher_rows": 1000, "pool_rows": 2000, "seed": 0},
            "teacher": {"samples_seen": SAMPLES, "batch_size": 128, "warmup": 2},
            "score": [
                {"caption_filter": {"tag_only": True}},
                {
                    "clip_score": {
                        "model": "{teacher}",
                        "pretrained": None,
                        "tag_only": True,
                        "batch_size": 256,
                    }
                },
            ],
        },
        "strategies": [
            {"name": "none", "kind": "none"},
            {"name": "nothing", "kind": "threshold", "column": "clip_score", "min": 5.0},
            {"name": "clip_top_50", "kind": "top_fraction", "column": "clip_score", "fraction": 0.5},
            {"name": "aesthetic", "kind": "top_fraction", "column": "aesthetic_score", "fraction": 0.5},
            {"name": "oracle_clean", "kind": "equals", "column": "planted", "values": ["clean"]},
        ],
        "tasks": [
            {
                "name": "t10k",
                "kind": "zeroshot",
                "images": str(fm / "t10k-images-idx3-ubyte.gz"),
                "labels": str(fm / "t10k-labels-idx1-ubyte.gz"),
                "limit": 500,
                "classnames": ["t-shirt", "trouser", "pullover", "dress", "coat"]
                + ["sandal", "shirt", "sneaker", "bag", "ankle boot"],
                "templates": ["a photo of a {}."],
            },
            {"name": "imagenet", "kind": "zeroshot", "folder": str(out / "no_imagenet_here")}
            | {"classnames": ["a"], "templates": ["{}"]},
        ],
    }


def _curate(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "curation.cli", "bench", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        **kw,
    )


def _accuracies(out: Path) -> dict:
    table = json.loads((out / "table.json").read_text())
    return {
        r["strategy"]: (r["rank"], r["subset_size"], r["samples_seen"], r["tasks"]) for r in table["rows"]
    }


@pytest.mark.timeout(2400)
def test_bench_end_to_end_kill_and_resume(shared, tmp_path):
    from curation.bench.config import BenchError, parse_bench
    from curation.bench.run import run_bench

    fm = shared("fashion_mnist")
    out_a = tmp_path / "a"
    raw = _bench(fm, out_a, parallel=2)  # two trainings at once; the serial run below must rank the same
    logs: list[str] = []
    outcome = run_bench(parse_bench(raw, "tiny_ci.yaml", tmp_path), log=logs.append)

    # every good strategy trained, at exactly the same samples seen, as open_clip's own log says
    table = outcome.table
    assert {r["strategy"] for r in table["rows"]} == {"none", "clip_top_50", "oracle_clean"}
    assert table["samples_seen_equal"] and all(r["samples_seen"] == [SAMPLES] for r in table["rows"])
    log = (out_a / "runs" / "oracle_clean" / "seed0" / "train" / "out.log").read_text()
    assert f"[{SAMPLES}/{SAMPLES} (100%)]" in log
    # bad input: clear messages, the others still ran
    assert "selects no rows" in table["failed"]["nothing"]
    assert "needs column 'aesthetic_score'" in table["failed"]["aesthetic"]
    assert "no_imagenet_here does not exist" in outcome.skipped_tasks["imagenet"]
    md = (out_a / "table.md").read_text()
    assert "strategy nothing failed: selects no rows" in md and "task imagenet skipped" in md
    assert (out_a / "table.png").stat().st_size > 0
    sizes = {r["strategy"]: r["subset_size"] for r in table["rows"]}
    assert sizes["none"] == 2100 and sizes["clip_top_50"] == 1050  # 2,000 rows + 5 % duplicates
    assert (
        sizes["oracle_clean"] == json.loads((out_a / "pool" / "built.json").read_text())["planted"]["clean"]
    )

    # the same output without --resume is refused, nothing is touched; with --resume nothing is retrained
    with pytest.raises(BenchError, match="pass --resume"):
        run_bench(parse_bench(raw, "tiny_ci.yaml", tmp_path))
    again = run_bench(parse_bench(raw, "tiny_ci.yaml", tmp_path), resume=True, log=logs.append)
    assert again.trained == []
    changed = raw | {"seeds": [1]}
    with pytest.raises(BenchError, match="different benchmark"):
        run_bench(parse_bench(changed, "tiny_ci.yaml", tmp_path), resume=True)

    # kill `curate bench` mid-training of its second strategy, then --resume: the first is not rerun, same table
    out_b = tmp_path / "b"
    shutil.copytree(out_a / "pool", out_b / "pool")  # the scored pool is a finished step: reused, not rebuilt
    bench_b = tmp_path / "b.yaml"
    bench_b.write_text(yaml.safe_dump(_bench(fm, out_b)))
    proc = _curate(str(bench_b), cwd=tmp_path)
    second = out_b / "runs" / "clip_top_50" / "seed0" / "train" / "out.log"
    deadline = time.time() + 600
    while not (second.is_file() and "Train Epoch" in second.read_text()):
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out_b / "runs" / "none" / "seed0" / "result.json").is_file()
    assert not (out_b / "runs" / "clip_top_50" / "seed0" / "result.json").is_file()
    bench_b_resume = tmp_path / "b_resume.yaml"  # the two strategies left train side by side
    bench_b_resume.write_text(yaml.safe_dump(_bench(fm, out_b, parallel=2)))
    resumed = _curate(str(bench_b_resume), "--resume", cwd=tmp_path)
    text, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, text
    assert "none/seed0:" not in text and "clip_top_50/seed0: mean" in text
    assert _accuracies(out_b) == _accuracies(out_a)
