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
    """Keep the images flagged in `keep` per row; move the others into `dropped_images` with `step:reason`.

    A similarity matrix (rows: images) loses the rows of the removed images, so it stays images x texts.
    """
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
    if SIMILARITY_MATRIX in batch.column_names:
        batch = set_column(batch, SIMILARITY_MATRIX, pa.array(_kept_rows(batch, images, keep), MATRIX))
    return set_column(batch, "dropped_images", pa.array(dropped_out, DROPPED_IMAGES))


def _kept_rows(batch: pa.Table, images: list, keep: list[list[bool]]) -> list:
    """Each row's matrix without the rows of removed images (a matrix that does not match its images is left as
    it is: `mmc4_assign` reports it)."""
    out = []
    for matrix, row, flags in zip(batch.column(SIMILARITY_MATRIX).to_pylist(), images, keep, strict=True):
        if matrix is not None and len(matrix) == len(row or []) and not all(flags):
            matrix = [m for m, ok in zip(matrix, flags, strict=True) if ok]
        out.append(matrix)
    return out
