"""Projector registry: maps vision patch features into the LM's embedding space; plus the stage-1 hand-off artifact.

The artifact's meta file is its completeness marker: it is written last, and removed before new weights replace
old ones, so a reader finds the old complete artifact, the new complete one, or none (never partial weights).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from curation.io.atomic import atomic_path
from curation.io.shards import atomic_write_bytes

PROJECTOR_FILE = "projector.safetensors"
PROJECTOR_META = "projector.json"


def _linear(vision_dim: int, lm_dim: int) -> nn.Module:
    return nn.Linear(vision_dim, lm_dim)


def _mlp2x_gelu(vision_dim: int, lm_dim: int) -> nn.Module:
    return nn.Sequential(nn.Linear(vision_dim, lm_dim), nn.GELU(), nn.Linear(lm_dim, lm_dim))


PROJECTORS: dict[str, Callable[[int, int], nn.Module]] = {"linear": _linear, "mlp2x_gelu": _mlp2x_gelu}


def build_projector(kind: str, vision_dim: int, lm_dim: int) -> nn.Module:
    """Instantiate a registered projector type."""
    if kind not in PROJECTORS:
        raise ValueError(f"unknown projector type {kind!r}; choose one of {sorted(PROJECTORS)}")
    return PROJECTORS[kind](vision_dim, lm_dim)


def save_projector(
    state: dict[str, torch.Tensor], kind: str, vision_dim: int, lm_dim: int, out_dir: Path
) -> None:
    """Write the hand-off artifact atomically: projector weights plus what is needed to rebuild it.

    A write cut short leaves the previous artifact in `out_dir` as it was; see the module docstring."""
    weights = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(out_dir / PROJECTOR_FILE) as tmp:
        save_file(weights, str(tmp))
        (out_dir / PROJECTOR_META).unlink(missing_ok=True)  # the old meta must not describe the new weights
    meta = {"type": kind, "vision_dim": vision_dim, "lm_dim": lm_dim}
    atomic_write_bytes(out_dir / PROJECTOR_META, json.dumps(meta, indent=2).encode())


def check_projector_artifact(path: str | Path, kind: str) -> dict:
    """The metadata of the hand-off artifact at `path`, which must be one written for projector type `kind`."""
    path = Path(path)
    meta_path = path / PROJECTOR_META
    if not meta_path.is_file():
        hint = ""
        if (path / "vlm.json").is_file():
            hint = " (an exported model: start from it with model.init_from)"
        elif (path / PROJECTOR_FILE).is_file():
            hint = " (an incomplete hand-off: its writer was stopped; rerun the stage that writes it)"
        raise FileNotFoundError(f"{path}: not a projector artifact (no {PROJECTOR_META}){hint}")
    meta = json.loads(meta_path.read_text())
    if meta["type"] != kind:
        raise ValueError(
            f"{path}: projector type {meta['type']!r} does not match model.projector.type {kind!r}"
        )
    return meta


def load_projector_into(projector: nn.Module, kind: str, path: str | Path) -> None:
    """Load a hand-off artifact into `projector`, checking it was written for the same type and sizes."""
    check_projector_artifact(path, kind)
    projector.load_state_dict(load_file(str(Path(path) / PROJECTOR_FILE)))
