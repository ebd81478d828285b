"""Rows of the pair / conversation / preference contracts -> tokenised training samples with decoded images."""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
from PIL import Image

from training.config import REF_COLUMNS
from training.data.prompting import IMAGE_TAG, DropSample, Encoded, PromptEncoder
from training.model.vision import ImageTransform

REF_CHOSEN, REF_REJECTED = REF_COLUMNS


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


class SampleBuilder:
    """Turns one row of the stage's schema into a sample, or raises DropSample."""

    def __init__(
        self, schema: str, encoder: PromptEncoder, transform: ImageTransform, ref_logps: bool = False
    ):
        self.schema = schema
        self.encoder = encoder
        self.transform = transform
        self.ref_logps = ref_logps

    def __call__(self, row: dict) -> SFTSample | PreferenceSample:
        if self.schema == "pair":
            caption = (row.get("caption") or "").strip()
            if not caption:
                raise DropSample("empty_text", "empty caption")
            messages = [{"role": "user", "content": IMAGE_TAG}, {"role": "assistant", "content": caption}]
            encoded = self.encoder.encode(messages, 1)
            return SFTSample(encoded, decode_images([row["image"]], self.transform))
        images = row.get("images") or []
        if self.schema == "conversation":
            encoded = self.encoder.encode(row.get("messages") or [], len(images))
            return SFTSample(encoded, decode_images(images, self.transform))
        prompt = row.get("prompt") or []
        if not row.get("chosen") or not row.get("rejected"):
            raise DropSample("empty_text", "empty chosen or rejected response")
        chosen = self.encoder.encode(prompt + [{"role": "assistant", "content": row["chosen"]}], len(images))
        rejected = self.encoder.encode(
            prompt + [{"role": "assistant", "content": row["rejected"]}], len(images)
        )
        ref = None
        if self.ref_logps:
            if row.get(REF_CHOSEN) is None or row.get(REF_REJECTED) is None:
                raise DropSample("missing_reference", "no precomputed reference log-probs")
            ref = (float(row[REF_CHOSEN]), float(row[REF_REJECTED]))
        return PreferenceSample(chosen, rejected, decode_images(images, self.transform), ref)
