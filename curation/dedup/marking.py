"""Mark the input rows from a star forest: every non-root node is a duplicate of its component's root.

The root of a component is its smallest `_order`, i.e. the first of its rows in input order: that row is kept.
The forest is sorted by node into parquet files; each block of the dataset then reads only the label rows of
its own `_order` range (parquet statistics prune the rest), so the corpus itself is never shuffled.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import ray.data

from curation.dedup import subphase
from curation.ops.base import DROP, set_column

ORDER = "_order"
CLUSTER = "dup_cluster"
IS_DUPLICATE = "is_duplicate"


def roots_of(orders: pa.Array, labels: str | None) -> pa.Array:
    """The component root of each `_order` (null where the row is kept: a root or in no component)."""
    if labels is None or len(orders) == 0:
        return pa.nulls(len(orders), pa.int64())
    bounds = pc.min_max(orders)
    lo, hi = bounds["min"].as_py(), bounds["max"].as_py()
    found = pads.dataset(labels, format="parquet").to_table(
        columns=["src", "dst"], filter=(pc.field("src") >= lo) & (pc.field("src") <= hi)
    )
    return pc.take(found.column("dst"), pc.index_in(orders, found.column("src")))


def _mark(batch: pa.Table, labels: str | None, reason: str, tag_only: bool) -> pa.Table:
    orders = batch.column(ORDER).combine_chunks()
    root = roots_of(orders, labels)
    duplicate = pc.is_valid(root)
    if tag_only:
        batch = set_column(batch, CLUSTER, pc.coalesce(root, orders))
        return set_column(batch, IS_DUPLICATE, duplicate)
    previous = batch.column(DROP) if DROP in batch.column_names else pa.nulls(batch.num_rows, pa.string())
    return set_column(batch, DROP, pc.if_else(duplicate, pa.scalar(reason), previous))


def sorted_labels(work_dir: Path, forest: dict) -> dict:
    """The forest's (node, root) rows sorted by node, persisted as the `labels` sub-phase."""
    if not forest["rows"]:
        return forest
    return subphase.persist(work_dir, "labels", lambda: subphase.read(forest).sort("src"))


def mark_duplicates(ds: ray.data.Dataset, labels: dict, reason: str, tag_only: bool) -> ray.data.Dataset:
    """Every row of `ds`, with `_drop = reason` on non-root rows (or `dup_cluster`/`is_duplicate` when tag_only).

    `dup_cluster` is the component's root `_order` (a row's own `_order` when it has no near duplicate).
    """
    path = labels["path"] if labels["rows"] else None
    return ds.map_batches(
        _mark, fn_kwargs={"labels": path, "reason": reason, "tag_only": tag_only}, batch_format="pyarrow"
    )
