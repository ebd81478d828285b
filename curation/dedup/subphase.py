"""What the task-based sub-phases need from a stage's input: its parquet files and their `_order` ranges."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import ray.data

from curation.dedup import shuffle

ORDER = "_order"


def dataset_files(ds: ray.data.Dataset, work_dir: Path) -> list[str]:
    """The parquet files behind `ds`; a dataset not read from parquet is written once to `<work_dir>/input`."""
    files = [f for f in ds.input_files() if f.endswith(".parquet")]
    if files and len(files) == len(ds.input_files()):
        return sorted(files)
    marker = shuffle.done(work_dir, "input")
    if marker is None:
        folder = work_dir / "input"
        ds.write_parquet(str(folder / "data"))
        found = sorted(str(p) for p in (folder / "data").glob("*.parquet"))
        marker = {"files": found}
        shuffle.atomic_write_json(folder / shuffle.SUCCESS, marker)
    return marker["files"]


def order_bounds(files: list[str]) -> list[tuple[int, int]]:
    """(min, max) `_order` of each file, from the parquet footers (no data read)."""
    out = []
    for path in files:
        meta = pq.ParquetFile(path).metadata
        col = meta.schema.to_arrow_schema().get_field_index(ORDER)
        stats = [meta.row_group(g).column(col).statistics for g in range(meta.num_row_groups)]
        out.append((min(s.min for s in stats), max(s.max for s in stats)))
    return out
