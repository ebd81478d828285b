"""Exact dedup on normalised text: the first row (in input order) of each text hash is kept."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pyarrow as pa
import ray.data
import xxhash

from curation.dedup.keys import KEY_SCHEMA, ROWS_PER_PARTITION, first_of_key
from curation.dedup.marking import duplicate_tags, mark_duplicates, sorted_labels
from curation.ops.base import Stage, register
from curation.rows import ORDER
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext
from curation.stagekit.grouping import partitions_for
from curation.stagekit.input import dataset_files, order_bounds, require_columns
from curation.text.words import normalize_for_hash


def text_hashes(texts: list[str | None], normalize: bool) -> np.ndarray:
    """64-bit xxh3 of each (normalised) text; null texts hash to 0 (never duplicates)."""
    out = np.zeros(len(texts), dtype=np.uint64)
    for i, text in enumerate(texts):
        if text is not None:
            out[i] = xxhash.xxh3_64_intdigest((normalize_for_hash(text) if normalize else text).encode()) or 1
    return out


def _keys(batch: pa.Table, column: str, normalize: bool) -> pa.Table:
    keys = text_hashes(batch.column(column).to_pylist(), normalize)
    keep = keys != 0
    return pa.table({"key": pa.array(keys[keep], pa.uint64()), ORDER: batch.column(ORDER).to_numpy()[keep]})


@register("exact_dedup")
@dataclasses.dataclass
class ExactDedup(Stage):
    """Drop documents whose normalised `column` (lower-case, no punctuation/digits, collapsed spaces) was seen before.

    Keeps the first occurrence in input order, so the result does not depend on cluster size. Rule: `duplicate`.
    `normalize: false` hashes the raw text. Only (hash, row) pairs are shuffled, never the documents;
    `tag_only: true` writes a boolean `exact_duplicate` instead of dropping.
    """

    requires = ("{column}",)
    tag_fields = duplicate_tags("exact_duplicate", cluster="")

    column: str = "text"
    normalize: bool = True

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        files = dataset_files(ds, ctx)
        require_columns(files, [ORDER, self.column], self.op_name)
        parts = partitions_for(ctx.rows or ds.count(), ROWS_PER_PARTITION, ctx.num_workers)
        keys = functools.partial(_keys, column=self.column, normalize=self.normalize)
        later = shuffle.shuffle(
            ctx.work_dir, "duplicates", files, "key", parts, first_of_key, KEY_SCHEMA, keys
        )
        labels = sorted_labels(ctx.work_dir, {**later, "rounds": 0}, order_bounds(files))
        return mark_duplicates(ds, labels, "duplicate", self.active_tags())
