"""What the task-based sub-phases need from a stage's input: its parquet files and their `_order` ranges."""

from __future__ import annotations

import pyarrow.parquet as pq
import ray.data

from curation.rows import ORDER
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext


def dataset_files(ds: ray.data.Dataset, ctx: StageContext) -> list[str]:
    """The parquet files behind `ds` (`ctx.input_files`); without them `ds` is written once to `<work_dir>/input`."""
    if ctx.input_files:
        return list(ctx.input_files)
    work_dir = ctx.work_dir
    marker = shuffle.done(work_dir, "input")
    if marker is None:
        folder = work_dir / "input"
        ds.write_parquet(str(folder / "data"))
        found = sorted(str(p) for p in (folder / "data").glob("*.parquet"))
        marker = {"files": found}
        shuffle.atomic_write_json(folder / shuffle.SUCCESS, marker)
    return marker["files"]


def leaf_index(meta: pq.FileMetaData, column: str) -> int:
    """The parquet leaf index of top-level `column` (nested columns such as list<struct> have several leaves, so
    it is not the Arrow field index)."""
    return [meta.schema.column(i).path for i in range(meta.num_columns)].index(column)


def order_bounds(files: list[str], column: str = ORDER) -> list[tuple[int, int]]:
    """(min, max) of `column` (`_order`) in each file, from the parquet footers (no data read)."""
    out = []
    for path in files:
        meta = pq.ParquetFile(path).metadata
        col = leaf_index(meta, column)
        stats = [meta.row_group(g).column(col).statistics for g in range(meta.num_row_groups)]
        out.append((min(s.min for s in stats), max(s.max for s in stats)))
    return out


def require_columns(files: list[str], columns: list[str], op: str) -> None:
    """Fail early, naming the op, when the input lacks a column the op was configured to read."""
    if not files:
        return
    have = pq.read_schema(files[0]).names
    missing = [c for c in columns if c not in have]
    if missing:
        raise ValueError(f"{op}: input has no column(s) {missing}; available: {have}")
