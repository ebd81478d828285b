"""Padding samples into batches (right padding, labels -100 on padding)."""

from __future__ import annotations

import torch

from training.data.prompting import IGNORE_INDEX, Encoded
from training.data.samples import PreferenceSample, SFTSample


def pad_encoded(items: list[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    length = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), length), pad_id, dtype=torch.long)
    labels = torch.full((len(items), length), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(items), length), dtype=torch.long)
    for i, e in enumerate(items):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def _stack(pixels: list[torch.Tensor]) -> torch.Tensor | None:
    return torch.stack(pixels) if pixels else None


def collate_sft(samples: list[SFTSample], pad_id: int) -> dict:
    """Batch of SFT samples; empty when every sample of the window was dropped."""
    if not samples:
        return {}
    batch = pad_encoded([s.encoded for s in samples], pad_id)
    batch["pixel_values"] = _stack([p for s in samples for p in s.pixels])
    return batch


def collate_preference(samples: list[PreferenceSample], pad_id: int) -> dict:
    """Chosen sequences first, then rejected ones; each sequence carries its own copy of the images."""
    if not samples:
        return {}
    batch = pad_encoded([s.chosen for s in samples] + [s.rejected for s in samples], pad_id)
    pixels = [p for s in samples for p in s.pixels]
    batch["pixel_values"] = _stack(pixels + pixels)
    if samples[0].ref_logps is not None:
        batch["ref_logps"] = torch.tensor([s.ref_logps for s in samples], dtype=torch.float64)
    return batch
