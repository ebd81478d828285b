"""Mark the input rows from a star forest: every non-root node is a duplicate of its component's root.

The root of a component is its smallest `_order`, i.e. the first of its rows in input order: that row is kept.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import ray.data

from curation.dedup import subphase
from curation.ops.base import DROP, set_column

ORDER = "_order"
ROOT = "_dup_root"
CLUSTER = "dup_cluster"
IS_DUPLICATE = "is_duplicate"


def _mark(batch: pa.Table, reason: str, tag_only: bool) -> pa.Table:
    if ROOT not in batch.column_names:
        batch = batch.append_column(ROOT, pa.nulls(batch.num_rows, pa.int64()))
    root = batch.column(ROOT)
    duplicate = pc.is_valid(root)
    batch = batch.drop_columns([c for c in (ROOT, "_dup_node") if c in batch.column_names])
    if tag_only:
        batch = set_column(batch, CLUSTER, pc.coalesce(root, batch.column(ORDER)))
        return set_column(batch, IS_DUPLICATE, duplicate)
    keep_drop = batch.column(DROP) if DROP in batch.column_names else pa.nulls(batch.num_rows, pa.string())
    return set_column(batch, DROP, pc.if_else(duplicate, pa.scalar(reason), keep_drop))


def mark_duplicates(
    ds: ray.data.Dataset, forest: dict, reason: str, tag_only: bool, num_partitions: int
) -> ray.data.Dataset:
    """Every row of `ds`, with `_drop = reason` on non-root rows (or `dup_cluster`/`is_duplicate` when tag_only).

    `dup_cluster` is the component's root `_order` (a row's own `_order` when it has no near duplicate).
    """
    if forest["rows"]:
        labels = subphase.read(forest).map_batches(
            lambda t: pa.table({"_dup_node": t.column("src"), ROOT: t.column("dst")}), batch_format="pyarrow"
        )
        ds = ds.join(labels, "left_outer", num_partitions, on=(ORDER,), right_on=("_dup_node",))
    return ds.map_batches(_mark, fn_kwargs={"reason": reason, "tag_only": tag_only}, batch_format="pyarrow")
