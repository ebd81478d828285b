"""Padding samples into batches (right padding, labels -100 on padding), or packing them into rows."""

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
    return {"input_ids": ids, "labels": labels, "attention_mask": mask, "tokens": int(mask.sum())}


def pack_encoded(items: list[Encoded], pad_id: int, row_length: int) -> dict[str, torch.Tensor]:
    """Next-fit packing, in order, into rows of at most `row_length` tokens.

    `position_ids` restart at 0 for every sample and there is no attention mask, which makes the model's
    attention block-diagonal (no token sees another sample); the first token of each sample carries no label,
    so no sample is trained to follow the one before it. Image order is kept, since samples keep theirs.
    """
    rows: list[list[Encoded]] = [[]]
    for e in items:
        if rows[-1] and sum(len(x.input_ids) for x in rows[-1]) + len(e.input_ids) > row_length:
            rows.append([])
        rows[-1].append(e)
    length = max(sum(len(x.input_ids) for x in row) for row in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), length), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        at = 0
        for e in row:
            n = len(e.input_ids)
            ids[i, at : at + n] = torch.tensor(e.input_ids)
            labels[i, at + 1 : at + n] = torch.tensor(e.labels[1:])
            positions[i, at : at + n] = torch.arange(n)
            at += n
        positions[i, at:] = torch.arange(length - at)  # padding: a label-free sequence of its own
    tokens = sum(len(e.input_ids) for e in items)
    return {
        "input_ids": ids,
        "labels": labels,
        "attention_mask": None,
        "position_ids": positions,
        "tokens": tokens,
    }


def _stack(pixels: list[torch.Tensor]) -> torch.Tensor | None:
    return torch.stack(pixels) if pixels else None


def collate_sft(samples: list[SFTSample], pad_id: int, pack_to: int | None = None) -> dict:
    """Batch of SFT samples (packed into rows of `pack_to` tokens if given); empty when all were dropped."""
    if not samples:
        return {}
    encoded = [s.encoded for s in samples]
    batch = pack_encoded(encoded, pad_id, pack_to) if pack_to else pad_encoded(encoded, pad_id)
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
