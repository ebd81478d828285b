"""Resumable checkpoints: DeepSpeed engine state (weights, optimizer, scheduler) + per-rank RNG and data position.

Layout: `<output>/checkpoints/step-NNNNNNNN/` with DeepSpeed's files, `rank-R.pt` per rank and a `COMPLETE`
marker written last; `<output>/checkpoints/latest` names the newest complete one.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

COMPLETE = "COMPLETE"
LATEST = "latest"


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def tag_for(step: int) -> str:
    return f"step-{step:08d}"


def save_checkpoint(engine, root: Path, step: int, rank_state: dict, keep: int) -> Path:
    """Save engine + this rank's state; rank 0 marks it complete, points `latest` at it and prunes old ones."""
    tag = tag_for(step)
    path = root / tag
    path.mkdir(parents=True, exist_ok=True)
    torch.save({"rng": rng_state(), **rank_state}, path / f"rank-{engine.global_rank}.pt")
    engine.save_checkpoint(str(root), tag=tag, client_state={"step": step}, save_latest=False)
    _barrier()
    if engine.global_rank == 0:
        (path / COMPLETE).write_text(str(step))
        tmp = root / f".{LATEST}.tmp"
        tmp.write_text(tag)
        tmp.replace(root / LATEST)
        complete = sorted(p for p in root.glob("step-*") if (p / COMPLETE).is_file())
        for old in complete[:-keep] if keep > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    _barrier()
    return path


def latest_tag(root: Path) -> str | None:
    """The checkpoint `latest` names, or (when that one is gone or incomplete) the newest complete one under
    `root`; None when there is none."""
    marker = root / LATEST
    if marker.is_file():
        tag = marker.read_text().strip()
        if (root / tag / COMPLETE).is_file():
            return tag
    complete = sorted(p.name for p in root.glob("step-*") if (p / COMPLETE).is_file())
    return complete[-1] if complete else None


def load_checkpoint(engine, root: Path, tag: str) -> dict:
    """Restore engine state and this rank's RNG; returns the rank state saved with it."""
    path = root / tag
    rank_file = path / f"rank-{engine.global_rank}.pt"
    if not rank_file.is_file():
        raise FileNotFoundError(
            f"{rank_file}: no state for rank {engine.global_rank} (was the world size different?)"
        )
    load_path, _ = engine.load_checkpoint(str(root), tag=tag)
    if load_path is None:
        raise RuntimeError(f"DeepSpeed could not load checkpoint {path}")
    state = torch.load(rank_file, weights_only=False)
    set_rng_state(state.pop("rng"))
    return state
