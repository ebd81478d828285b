"""Train one CLIP model with open_clip's own trainer in a subprocess, and read what it did from its log."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from curation.bench.scales import Scale, trainer_args

_STEP = re.compile(r"Train Epoch: (\d+) \[\s*(\d+)/(\d+) .*?Batch \(t\): [\d.]+, ([\d.]+)/s")


class TrainingError(RuntimeError):
    """open_clip's trainer failed; the message holds the tail of its log."""


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    samples_seen: int  # from the trainer's log: the last count of every epoch, summed
    samples_per_s: float  # training-loop throughput from the logged step times (the first step left out)
    seconds: float
    cpu_s: float  # CPU seconds of the trainer process (user + system): its cost independent of machine load


def brace_list(shards: list[Path]) -> str:
    """`dir/shard-{00000..00012}.tar` for consecutive shards of one folder (what open_clip expects)."""
    if len(shards) == 1:
        return str(shards[0])
    first, last = shards[0].stem.split("-")[-1], shards[-1].stem.split("-")[-1]
    return str(shards[0].parent / f"shard-{{{first}..{last}}}.tar")


def model_reference(scale: Scale, folder: Path) -> str:
    """An open_clip model name, a local open_clip folder (`local-dir:`), or (for a config) a local model folder
    holding only `open_clip_config.json`."""
    if isinstance(scale.model, str):
        local = Path(scale.model).expanduser()
        return f"local-dir:{local.resolve()}" if local.is_dir() else scale.model
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"model_cfg": scale.model, "preprocess_cfg": {"size": scale.model["vision_cfg"]["image_size"]}}
    (folder / "open_clip_config.json").write_text(json.dumps(cfg, indent=1))
    return f"local-dir:{folder.resolve()}"


def read_log(log: Path) -> tuple[int, float]:
    """(samples seen, samples/s of the training loop) from an open_clip `out.log` (one line per step)."""
    last: dict[int, int] = {}
    rates: list[float] = []
    for line in log.read_text(errors="replace").splitlines():
        m = _STEP.search(line)
        if m:
            last[int(m.group(1))] = int(m.group(2))
            rates.append(float(m.group(4)))
    steady = [r for r in rates[1:] or rates if r > 0]
    # every logged step has the same batch: the harmonic mean is samples over the summed step times
    return sum(last.values()), (len(steady) / sum(1 / r for r in steady) if steady else 0.0)


def train_clip(
    scale: Scale,
    shards: list[Path],
    run_dir: Path,
    seed: int,
    workers: int,
    device: str | None,
    threads: int | None = None,
) -> TrainResult:
    """Train `scale` on `shards` into `run_dir/train` (resuming its latest checkpoint if one exists)."""
    model = model_reference(scale, run_dir / "model")
    args = trainer_args(
        scale,
        model=model,
        train_data=brace_list(shards),
        logs=str(run_dir),
        name="train",
        seed=seed,
        workers=workers,
        device=device,
    )
    (run_dir / "trainer_args.json").write_text(json.dumps(args, indent=1))
    env = dict(os.environ)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    started = time.perf_counter()
    stdout = run_dir / "trainer_stdout.txt"
    with open(stdout, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "curation.bench.launch", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own CPU time, whatever else runs
    seconds = time.perf_counter() - started
    code = proc.returncode = os.waitstatus_to_exitcode(status)
    checkpoint = run_dir / "train" / "checkpoints" / "epoch_latest.pt"
    if code != 0 or not checkpoint.is_file():
        tail = "\n".join(stdout.read_text(errors="replace").splitlines()[-15:])
        raise TrainingError(f"open_clip_train exited with {code}:\n{tail}")
    samples, rate = read_log(run_dir / "train" / "out.log")
    return TrainResult(checkpoint, samples, rate, seconds, usage.ru_utime + usage.ru_stime)
