"""NSFW image filter with the NudeNet detector (its ONNX model ships inside the `nudenet` package)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pyarrow as pa

from curation.ops.base import ERROR, Filter, register, set_column, with_drop
from curation.ops.image import decode_image

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
    """

    requires = ("image",)
    provides = ("nsfw_score", "nsfw_classes")

    column: str = "image"
    threshold: float = 0.5
    classes: list[str] = dataclasses.field(default_factory=lambda: list(EXPOSED))
    batch_size: int = 16
    max_pixels: int = 89_478_485

    def setup(self) -> None:
        self._detector = _detector()
        self._classes = frozenset(self.classes)

    def evaluate(self, batch: pa.Table) -> pa.Table:
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
