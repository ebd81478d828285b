"""Exact dedup on normalised text: the first row (in input order) of each text hash is kept."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
import pyarrow as pa
import ray.data
import xxhash

from curation.dedup.grouping import map_groups_local, partitions_for
from curation.ops.base import DROP, Stage, register
from curation.runner.context import StageContext
from curation.text.words import normalize_for_hash

ORDER = "_order"
HASH = "_text_hash"


def text_hashes(texts: list[str | None], normalize: bool) -> np.ndarray:
    """64-bit xxh3 of each (normalised) text; null texts hash to 0."""
    out = np.zeros(len(texts), dtype=np.uint64)
    for i, text in enumerate(texts):
        if text is not None:
            out[i] = xxhash.xxh3_64_intdigest((normalize_for_hash(text) if normalize else text).encode())
    return out


def mark_later_duplicates(table: pa.Table, key: str, reason: str) -> pa.Table:
    """`_drop` = reason on every row whose key was seen at a smaller `_order` (the first occurrence is kept)."""
    df = pl.from_arrow(table)
    first = pl.col(ORDER).min().over(key)
    df = df.with_columns(pl.when(pl.col(ORDER) != first).then(pl.lit(reason)).otherwise(None).alias(DROP))
    return df.drop(key).to_arrow()


@register("exact_dedup")
@dataclasses.dataclass
class ExactDedup(Stage):
    """Drop documents whose normalised `column` (lower-case, no punctuation/digits, collapsed spaces) was seen before.

    Keeps the first occurrence in input order, so the result does not depend on cluster size. Rule: `duplicate`.
    `normalize: false` hashes the raw text.
    """

    requires = ("text",)

    column: str = "text"
    normalize: bool = True

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        column, normalize = self.column, self.normalize

        def add_hash(batch: pa.Table) -> pa.Table:
            hashes = text_hashes(batch.column(column).to_pylist(), normalize)
            return batch.append_column(HASH, pa.array(hashes, pa.uint64()))

        hashed = ds.map_batches(add_hash, batch_format="pyarrow")
        parts = partitions_for(ctx.rows, minimum=ctx.num_workers)
        return map_groups_local(hashed, [HASH], lambda t: mark_later_duplicates(t, HASH, "duplicate"), parts)
