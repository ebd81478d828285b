"""Training samples (tokenised conversations with decoded images) and the image decoding they share.

Which rows become which samples is each stage's business (`training.stages`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
from PIL import Image

from training.data.prompting import DropSample, Encoded
from training.model.vision import ImageTransform


@dataclass
class SFTSample:
    encoded: Encoded
    pixels: list[torch.Tensor]


@dataclass
class PreferenceSample:
    chosen: Encoded
    rejected: Encoded
    pixels: list[torch.Tensor]
    ref_logps: tuple[float, float] | None


def decode_images(blobs: list[bytes | None], transform: ImageTransform) -> list[torch.Tensor]:
    """Decode and preprocess images; an undecodable image drops the sample."""
    out = []
    for blob in blobs:
        if not blob:
            raise DropSample("bad_image", "missing image bytes")
        try:
            with Image.open(io.BytesIO(blob)) as image:
                image.load()
                out.append(transform(image.convert("RGB")))
        except Exception as exc:  # PIL raises many types for corrupt data
            raise DropSample("bad_image", f"{type(exc).__name__}: {exc}") from exc
    return out
