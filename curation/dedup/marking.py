"""Mark the input rows from a star forest: every non-root node is a duplicate of its component's root.

The root of a component is its smallest `_order`, i.e. the first of its rows in input order: that row is kept.
The forest is range-partitioned on node by the `_order` ranges of the input files, so each block of the
dataset reads only the label files whose node range holds one of its rows, and the corpus itself is never
shuffled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray.data

from curation.dedup.components import EDGE_SCHEMA
from curation.rows import DROP, ORDER, set_column
from curation.stagekit import shuffle
from curation.stagekit.input import order_bounds
from curation.stagekit.lookup import starts

CLUSTER = "dup_cluster"
IS_DUPLICATE = "is_duplicate"


def duplicate_tags(flag: str = IS_DUPLICATE, cluster: str = CLUSTER) -> tuple[pa.Field, ...]:
    """The columns `mark_duplicates` writes with `tag_only`: the cluster's root `_order` (unless `cluster` is "")
    and the boolean `flag`, as a stage's `tag_fields`."""
    return (*((pa.field(cluster, pa.int64()),) if cluster else ()), pa.field(flag, pa.bool_()))


Labels = list[tuple[str, int, int]]  # (file, smallest node, largest node)


def holds_any(keys: np.ndarray, lo: int, hi: int) -> bool:
    """Whether sorted `keys` has a value in [lo, hi]."""
    i = np.searchsorted(keys, lo)
    return bool(i < len(keys) and keys[i] <= hi)


def roots_of(orders: pa.Array, labels: Labels) -> pa.Array:
    """The component root of each `_order` (null where the row is kept: a root or in no component)."""
    keys = np.sort(orders.to_numpy())
    wanted = [path for path, lo, hi in labels if holds_any(keys, lo, hi)]
    if not wanted:
        return pa.nulls(len(orders), pa.int64())
    found = pa.concat_tables([pq.read_table(path, columns=["src", "dst"]) for path in wanted])
    return pc.take(found.column("dst"), pc.index_in(orders, found.column("src")))


def _mark(batch: pa.Table, labels: Labels, reason: str, tags: tuple[pa.Field, ...] | None) -> pa.Table:
    orders = batch.column(ORDER).combine_chunks()
    root = roots_of(orders, labels)
    duplicate = pc.is_valid(root)
    if tags is not None:
        for field in tags:
            values = duplicate if field.type == pa.bool_() else pc.coalesce(root, orders)
            batch = set_column(batch, field.name, values.cast(field.type))
        return batch
    previous = batch.column(DROP) if DROP in batch.column_names else pa.nulls(batch.num_rows, pa.string())
    return set_column(batch, DROP, pc.if_else(duplicate, pa.scalar(reason), previous))


def _sort_part(part: pa.Table, _index: int) -> pa.Table:
    return pl.from_arrow(part).sort("src").to_arrow().cast(EDGE_SCHEMA)


def sorted_labels(work_dir: Path, forest: dict, bounds: list[tuple[int, int]]) -> Labels:
    """Files of the forest's (node, root) rows, one per input `_order` range, each sorted by node, with their
    node ranges."""
    if not forest["rows"]:
        return []
    partitioner = shuffle.range_partition(starts(bounds))
    marker = shuffle.shuffle(
        work_dir,
        "labels",
        forest["files"],
        "src",
        len(bounds),
        _sort_part,
        EDGE_SCHEMA,
        partitioner=partitioner,
    )
    return [
        (path, lo, hi)
        for path, (lo, hi) in zip(marker["files"], order_bounds(marker["files"], "src"), strict=True)
    ]


def mark_duplicates(
    ds: ray.data.Dataset,
    labels: Labels,
    reason: str,
    tags: tuple[pa.Field, ...] | None,
) -> ray.data.Dataset:
    """Every row of `ds`, with `_drop = reason` on non-root rows, or with `tags` (from `duplicate_tags`) those
    columns instead: the boolean one is true on the rows that would be dropped, the integer one (`dup_cluster`)
    is the component's root `_order` (a row's own `_order` when it has no duplicate).
    """
    kwargs = {"labels": labels, "reason": reason, "tags": tags}
    return ds.map_batches(_mark, fn_kwargs=kwargs, batch_format="pyarrow")
