"""NSFW image filter: the NudeNet detector (its ONNX model ships inside `nudenet`), or an MLP head over CLIP
image embeddings with user-supplied weights (the LAION safety classifier's design)."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.ops.base import ERROR, FRACTION, POSITIVE, Filter, register, set_column, with_drop
from curation.ops.clip import embeddings_of
from curation.ops.image_codec import decode_image

EXPOSED = (
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)


@functools.lru_cache(maxsize=1)
def _detector():  # noqa: ANN202 - nudenet.NudeDetector
    from nudenet import NudeDetector

    return NudeDetector()


BACKENDS = ("nudenet", "clip_mlp")


def load_mlp(path: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Dense layers `W0, b0, W1, b1, ...` from an `.npz` (W of shape (in, out)), plus optional `mean`/`var`
    input normalisation stored as a first pseudo-layer."""
    with np.load(path) as npz:
        layers = []
        if "mean" in npz:
            var = npz["var"] if "var" in npz else np.ones_like(npz["mean"])
            layers.append((npz["mean"].astype(np.float32), np.sqrt(var.astype(np.float32) + 1e-7)))
        i = 0
        while f"W{i}" in npz:
            layers.append((npz[f"W{i}"].astype(np.float32), npz[f"b{i}"].astype(np.float32)))
            i += 1
    if not i:
        raise ValueError(f"{path}: no dense layers W0/b0 found")
    return layers


def mlp_scores(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray, normalised: bool) -> np.ndarray:
    """ReLU between dense layers, sigmoid at the end (one output unit: the NSFW probability)."""
    if normalised:
        mean, std = layers[0]
        x = (x - mean) / std
        layers = layers[1:]
    for j, (w, b) in enumerate(layers):
        x = x @ w + b
        if j < len(layers) - 1:
            x = np.maximum(x, 0)
    return 1 / (1 + np.exp(-x[:, 0]))


def image_score(detections: list[dict], classes: frozenset[str]) -> float:
    """The image-level NSFW score: the highest confidence of any detection of a listed class, else 0."""
    return max((d["score"] for d in detections if d["class"] in classes), default=0.0)


@register("nsfw_filter")
@dataclasses.dataclass
class NsfwFilter(Filter):
    """Score images with NudeNet and drop those above `threshold` (rule `nsfw`); writes `nsfw_score`.

    NudeNet detects body parts with boxes and confidences; the image score is the highest confidence among the
    `classes` counted as explicit (default: exposed breasts, genitalia, buttocks, anus), 0 when none is found.
    `threshold` 0.5 follows NeMo Curator / Data-Juicer; MMC4 drops above 0.1. `nsfw_classes` lists every
    detected class, for audits.

    `backend: clip_mlp` scores the `embedding_column` (from `clip_score` with `write_embedding: true`) with the
    dense layers in `weights` (an `.npz`, see `load_mlp`; e.g. the LAION CLIP NSFW classifier converted from
    Keras); `nsfw_classes` is then empty.
    """

    ranges = {"threshold": FRACTION, "batch_size": POSITIVE, "max_pixels": POSITIVE}

    requires = ("image",)
    provides = ("nsfw_score", "nsfw_classes")

    column: str = "image"
    threshold: float = 0.5
    classes: list[str] = dataclasses.field(default_factory=lambda: list(EXPOSED))
    batch_size: int = 16
    max_pixels: int = 89_478_485
    backend: str = "nudenet"
    weights: str | None = None
    embedding_column: str = "clip_image_embedding"

    def required_columns(self) -> tuple[str, ...]:
        return (self.embedding_column,) if self.backend == "clip_mlp" else (self.column,)

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.backend == "clip_mlp" and not self.weights:
            raise ValueError("backend clip_mlp needs `weights` (an .npz of dense layers)")

    def preflight(self) -> None:
        if self.weights and not Path(self.weights).expanduser().is_file():
            raise FileNotFoundError(f"weights {self.weights!r}: no such file")

    def setup(self) -> None:
        if self.backend == "clip_mlp":
            with np.load(self.weights) as npz:
                self._normalised = "mean" in npz
            self._mlp = load_mlp(self.weights)
        else:
            self._detector = _detector()
            self._classes = frozenset(self.classes)

    def _evaluate_mlp(self, batch: pa.Table) -> pa.Table:
        emb, valid = embeddings_of(batch.column(self.embedding_column))
        scores = np.where(valid, mlp_scores(self._mlp, emb, self._normalised), np.nan)
        values = [None if np.isnan(v) else float(v) for v in scores]
        batch = set_column(batch, "nsfw_score", pa.array(values, pa.float32()))
        batch = set_column(batch, "nsfw_classes", pa.array([[] for _ in values], pa.list_(pa.string())))
        errors = [None if v is not None else "missing_embedding" for v in values]
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, pa.string()))
        return with_drop(batch, [None if v is None or v <= self.threshold else "nsfw" for v in values])

    def evaluate(self, batch: pa.Table) -> pa.Table:
        if self.backend == "clip_mlp":
            return self._evaluate_mlp(batch)
        n = batch.num_rows
        scores: list[float | None] = [None] * n
        found: list[list[str] | None] = [None] * n
        errors: list[str | None] = [None] * n
        arrays, rows = [], []
        for i, data in enumerate(batch.column(self.column).to_pylist()):
            try:
                img, _, _ = decode_image(data or b"", self.max_pixels, draft_side=320)
            except ValueError as exc:
                errors[i] = f"image:{exc}"
                continue
            arrays.append(
                np.ascontiguousarray(np.asarray(img)[:, :, ::-1])
            )  # BGR, as NudeNet's own file reader gives
            rows.append(i)
        detections = self._detector.detect_batch(arrays, batch_size=self.batch_size) if arrays else []
        for row, dets in zip(rows, detections, strict=True):
            scores[row] = image_score(dets, self._classes)
            found[row] = sorted({d["class"] for d in dets})
        batch = set_column(batch, "nsfw_score", pa.array(scores, pa.float32()))
        batch = set_column(batch, "nsfw_classes", pa.array(found, pa.list_(pa.string())))
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, pa.string()))
        return with_drop(batch, [None if s is None or s <= self.threshold else "nsfw" for s in scores])
