"""Interleaved rows: the `interleaved` contract plus the columns the stage family carries along.

A row is one document: `texts` in reading order and `images`, each placed before `texts[text_index]`
(`text_index == len(texts)`: after the last text). Every image an op removes is appended to `dropped_images`
with `<step rule>` as reason, so the images of a run are accounted for as the documents are:
images read = images kept + images in `dropped_images` (of the output and the rejects).
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from curation.rows import INTERLEAVED, INTERLEAVED_IMAGE, set_column

IMAGE_FIELDS = tuple(f.name for f in INTERLEAVED_IMAGE)
DROPPED_IMAGE = pa.struct([("url", pa.string()), ("reason", pa.string())])
DROPPED_IMAGES = pa.list_(DROPPED_IMAGE)
IMAGES = pa.list_(INTERLEAVED_IMAGE)
SIMILARITY_MATRIX = "similarity_matrix"
MATRIX = pa.list_(pa.list_(pa.float32()))
INTERLEAVED_ROW = pa.schema(
    [*INTERLEAVED, ("source", pa.string()), ("dropped_images", DROPPED_IMAGES), (SIMILARITY_MATRIX, MATRIX)]
)


def image(url: str | None = None, **fields: object) -> dict:
    """An image struct with every field present (missing ones null)."""
    return {name: fields.get(name) for name in IMAGE_FIELDS} | {"url": url}


def document(
    doc_id: str, url: str | None, texts: list[str], images: list[dict], source: str, **extra: object
) -> dict:
    """An interleaved row as a dict (what readers build before `to_table`)."""
    return {"doc_id": doc_id, "url": url, "texts": texts, "images": images, "source": source, **extra}


def to_table(docs: Iterable[dict]) -> pa.Table:
    """Interleaved rows from dicts (missing columns null, `dropped_images` empty)."""
    rows = [
        {name: doc.get(name) for name in INTERLEAVED_ROW.names}
        | {"dropped_images": doc.get("dropped_images") or []}
        for doc in docs
    ]
    return pa.Table.from_pylist(rows, schema=INTERLEAVED_ROW)


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
