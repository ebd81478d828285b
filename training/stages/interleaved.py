"""Interleaved image-text documents (MMC4 / OBELICS `interleaved` shards), alone or mixed with pairs and
conversations; projector + LM train as in stage 2.

A document becomes one sequence: its texts in order, separated by blank lines, each image's patch placeholders
placed just before the text it is assigned to (`text_index`; `len(texts)` or null: after the last text), and
the end-of-text token. Only text tokens carry labels: image positions, and nothing else, are masked. At most
`interleaved.max_images` images are kept per sample (the first ones in document order); the images cut by that
cap or by `model.max_length` are counted in the `images_cut` statistic. A pair row is a one-image document whose
text is its caption; a conversation row is encoded as in stage 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from training.data.collate import collate_sft
from training.data.prompting import IGNORE_INDEX, DropSample, Encoded, PromptEncoder
from training.data.samples import SFTSample, decode_images
from training.model.vision import ImageTransform
from training.model.vlm import IMAGE_TOKEN_ID, VLM
from training.stages.base import Stage
from training.stages.instruct import configure_trainable

SEPARATOR = "\n\n"


@dataclass
class InterleavedSample(SFTSample):
    images_cut: int = 0


def _placed(row: dict) -> tuple[list[str], list[tuple[int, bytes | None]]]:
    """(texts, [(text index, image bytes)] in placement order) of an interleaved document or a pair row."""
    if "caption" in row:
        return [(row.get("caption") or "").strip()], [(0, row.get("image"))]
    texts = [t for t in row.get("texts") or []]
    images = []
    for img in row.get("images") or []:
        index = img.get("text_index")
        images.append(
            (len(texts) if index is None or index > len(texts) else max(index, 0), img.get("bytes"))
        )
    images.sort(key=lambda pair: pair[0])  # stable: images of one text keep their document order
    return texts, images


class InterleavedSamples:
    """A row (interleaved document, pair or conversation) -> a tokenised sample with its decoded images."""

    def __init__(self, encoder: PromptEncoder, transform: ImageTransform, max_images: int) -> None:
        self.encoder = encoder
        self.transform = transform
        self.max_images = max_images
        self.eos = encoder.tokenizer.eos_token_id

    def _ids(self, text: str) -> list[int]:
        return self.encoder.tokenizer(text, add_special_tokens=False)["input_ids"]

    def __call__(self, row: dict) -> InterleavedSample:
        if "messages" in row:
            images = row.get("images") or []
            encoded = self.encoder.encode(row.get("messages") or [], len(images))
            return InterleavedSample(encoded, decode_images(images, self.transform))
        texts, images = _placed(row)
        limit, patches = self.encoder.max_length, self.encoder.num_patches
        ids: list[int] = []
        labels: list[int] = []
        kept: list[bytes | None] = []
        pending = list(images)
        for k in range(len(texts) + 1):
            while pending and pending[0][0] == k:
                _, blob = pending.pop(0)
                if len(kept) < self.max_images and len(ids) + patches < limit:
                    ids.extend([IMAGE_TOKEN_ID] * patches)
                    labels.extend([IGNORE_INDEX] * patches)
                    kept.append(blob)
            if k < len(texts) and texts[k]:
                piece = self._ids((SEPARATOR if ids else "") + texts[k])[: max(limit - len(ids), 0)]
                ids.extend(piece)
                labels.extend(piece)
        if self.eos is not None and len(ids) < limit:
            ids.append(self.eos)
            labels.append(self.eos)
        if all(label == IGNORE_INDEX for label in labels[1:]):
            raise DropSample("empty_text", "no text token to train on")
        sample = InterleavedSample(Encoded(ids, labels, len(kept)), decode_images(kept, self.transform))
        sample.images_cut = len(images) - len(kept)
        return sample


def collate_interleaved(samples: list[InterleavedSample], pad_id: int) -> dict:
    """`collate_sft` plus the number of images the cap cut from the batch's samples."""
    batch = collate_sft(samples, pad_id)
    if batch:
        batch["images_cut"] = sum(s.images_cut for s in samples)
    return batch


class InterleavedStage(Stage):
    """Projector + LM (full or LoRA), optionally the vision tower; next-token loss on the text tokens."""

    schema = "interleaved|pair|conversation"  # any of these contracts, source by source
    supports_packing = False  # its own collate (images_cut); rows are padded
    stat_keys = ("loss_sum", "loss_tokens", "images_cut")

    def sample_builder(self, encoder: PromptEncoder, transform: ImageTransform) -> InterleavedSamples:
        return InterleavedSamples(encoder, transform, self.cfg.interleaved.max_images)

    def collate(self):
        return partial(collate_interleaved, pad_id=self.pad_id)

    def configure(self, model: VLM) -> dict[str, float]:
        return configure_trainable(self, model)

    def loss(self, engine, batch: dict, world: int) -> tuple[torch.Tensor, dict[str, float]]:
        loss, stats = super().loss(engine, batch, world)
        stats["images_cut"] = batch.get("images_cut", 0)
        return loss, stats

    def summarize(self, totals: dict[str, float]) -> dict[str, float]:
        return super().summarize(totals) | {"images_cut": totals["images_cut"]}
