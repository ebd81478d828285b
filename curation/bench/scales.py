"""Training scales: DataComp's published settings (small ... xlarge) and a `tiny` scale that runs on CPU.

DataComp (Gadre et al. 2023, `scale_configs.py` and `train.py` of mlfoundations/datacomp) trains open_clip with
the pool size as samples seen, `--dataset-resampled`, `--train-num-samples` = samples seen / checkpoints and
`--epochs` = checkpoints (5 by default), the global batch split over ranks, AMP, local loss with gathered
gradients, gradient checkpointing, a static DDP graph, the latest checkpoint kept and resumed, and open_clip's
defaults for everything else (AdamW, weight decay 0.2, cosine schedule).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

# A ViT small enough to train on two CPU cores in seconds, sized for 28-pixel images.
TINY_MODEL: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 28, "layers": 2, "width": 64, "patch_size": 7, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@dataclass(frozen=True)
class Scale:
    """What a benchmark trains: the model and the fixed compute every strategy gets."""

    name: str
    model: (
        str | dict[str, Any]
    )  # an open_clip model name, a local open_clip folder, or a model config (written as a local model folder)
    pool_size: int | None
    samples_seen: int
    batch_size: int  # global
    lr: float
    warmup: int
    beta2: float | None = None
    wd: float | None = None  # None: open_clip's default (0.2)
    checkpoints: int = 5
    precision: str = "amp"
    datacomp_flags: bool = True  # local loss, gathered gradients, gradient checkpointing, static DDP graph
    extra: tuple[str, ...] = field(default_factory=tuple)


SCALES: dict[str, Scale] = {
    "small": Scale("small", "ViT-B-32", 12_800_000, 12_800_000, 4096, 5e-4, 500),
    "medium": Scale("medium", "ViT-B-32", 128_000_000, 128_000_000, 4096, 5e-4, 500),
    "large": Scale("large", "ViT-B-16", 1_280_000_000, 1_280_000_000, 8192, 5e-4, 500),
    "xlarge": Scale("xlarge", "ViT-L-14", 12_800_000_000, 12_800_000_000, 90112, 1e-3, 10000, beta2=0.95),
    "tiny": Scale(
        "tiny",
        TINY_MODEL,
        None,
        samples_seen=24_576,  # 192 steps: long enough that noisy pools leave the log(batch) plateau
        batch_size=128,
        lr=2e-3,
        warmup=20,
        beta2=0.95,  # as DataComp's xlarge: steadier late training (chosen on the held-out validation split)
        wd=0.1,
        checkpoints=1,
        precision="fp32",
        datacomp_flags=False,
    ),
}
SCALE_KEYS = (
    "samples_seen",
    "batch_size",
    "lr",
    "warmup",
    "beta2",
    "wd",
    "checkpoints",
    "precision",
    "model",
)


def get_scale(name: str, overrides: dict[str, Any] | None = None) -> Scale:
    """A named scale with optional overrides of its fields (`samples_seen`, `batch_size`, `lr`, ...)."""
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; valid: {', '.join(SCALES)}")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(SCALE_KEYS))
    if unknown:
        raise ValueError(
            f"scale override {unknown[0]!r} is not a scale setting; valid: {', '.join(SCALE_KEYS)}"
        )
    for key, value in overrides.items():
        if key in SCALE_BOUNDS and not _in_bounds(value, *SCALE_BOUNDS[key]):
            kind, low, nullable = SCALE_BOUNDS[key]
            null = " or null" if nullable else ""
            raise ValueError(f"scale override {key}: expected {kind.__name__} >= {low}{null}, got {value!r}")
    return replace(SCALES[name], **overrides)


# numeric scale settings: (type, lowest value, whether null means open_clip's default)
SCALE_BOUNDS: dict[str, tuple[type, float, bool]] = {
    "samples_seen": (int, 1, False),
    "batch_size": (int, 1, False),
    "warmup": (int, 0, False),
    "checkpoints": (int, 1, False),
    "lr": (float, 0, False),
    "beta2": (float, 0, True),
    "wd": (float, 0, True),
}


def _in_bounds(value: Any, kind: type, low: float, nullable: bool) -> bool:
    if value is None:
        return nullable
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and (kind is float or isinstance(value, int)) and value >= low


def trainer_args(
    scale: Scale,
    *,
    model: str,
    train_data: str,
    logs: str,
    name: str,
    seed: int,
    workers: int,
    world_size: int = 1,
    accum_freq: int = 1,
    device: str | None = None,
) -> list[str]:
    """The `open_clip_train.main` command line that trains `scale` on `train_data` (a brace-expanded shard list)."""
    per_rank = scale.batch_size // (world_size * accum_freq)
    args = [
        "--train-data", train_data,
        "--dataset-type", "webdataset",
        "--dataset-resampled",
        "--train-num-samples", str(scale.samples_seen // scale.checkpoints),
        "--epochs", str(scale.checkpoints),
        "--batch-size", str(per_rank),
        "--accum-freq", str(accum_freq),
        "--lr", str(scale.lr),
        "--warmup", str(scale.warmup),
        "--model", model,
        "--precision", scale.precision,
        "--workers", str(workers),
        "--seed", str(seed),
        "--logs", logs,
        "--name", name,
        "--save-frequency", "0",
        "--save-most-recent",
        "--resume", "latest",
        "--zeroshot-frequency", "0",
        "--log-every-n-steps", "1",
    ]  # fmt: skip
    if scale.datacomp_flags:
        args += ["--local-loss", "--gather-with-grad", "--grad-checkpointing", "--ddp-static-graph"]
    if scale.beta2 is not None:
        args += ["--beta2", str(scale.beta2)]
    if scale.wd is not None:
        args += ["--wd", str(scale.wd)]
    if device:
        args += ["--device", device]
    return args + list(scale.extra)
