"""Interleaved rows (`curation.rows.INTERLEAVED_ROW`: the `interleaved` contract plus the columns the stage family
carries along) and how ops remove images from them.

A row is one document: `texts` in reading order and `images`, each placed before `texts[text_index]`
(`text_index == len(texts)`: after the last text). Every image an op removes is appended to `dropped_images`
with `<step rule>` as reason, so the images of a run are accounted for as the documents are:
images read = images kept + images in `dropped_images` (of the output and the rejects).
"""

from __future__ import annotations

import pyarrow as pa

from curation.rows import INTERLEAVED_ROW, SIMILARITY_MATRIX, set_column

IMAGES = INTERLEAVED_ROW.field("images").type
DROPPED_IMAGES = INTERLEAVED_ROW.field("dropped_images").type
MATRIX = INTERLEAVED_ROW.field(SIMILARITY_MATRIX).type


def split_images(
    batch: pa.Table, keep: list[list[bool]], reasons: list[list[str | None]], step: str
) -> pa.Table:
    """Keep the images flagged in `keep` per row; move the others into `dropped_images` with `step:reason`."""
    images = batch.column("images").to_pylist()
    dropped = (
        batch.column("dropped_images").to_pylist()
        if "dropped_images" in batch.column_names
        else [[] for _ in images]
    )
    kept_out, dropped_out = [], []
    for row, flags, why, gone in zip(images, keep, reasons, dropped, strict=True):
        row = row or []
        kept_out.append([img for img, ok in zip(row, flags, strict=True) if ok])
        gone = list(gone or [])
        gone += [
            {"url": img["url"], "reason": f"{step}:{r}"}
            for img, ok, r in zip(row, flags, why, strict=True)
            if not ok
        ]
        dropped_out.append(gone)
    batch = set_column(batch, "images", pa.array(kept_out, IMAGES))
    return set_column(batch, "dropped_images", pa.array(dropped_out, DROPPED_IMAGES))
