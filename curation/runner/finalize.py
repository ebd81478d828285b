"""Write the final shards from ordered phase files: fixed-size row ranges, one Ray task per shard (a single small
shard is written by the driver).

A task streams its slices row group by row group, so its memory does not grow with `shard_rows`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import ray

from curation.io.shards import ShardInfo, write_shard_stream
from curation.rows import ORDER
from curation.runner.progress import Progress

INTERNAL_COLUMNS = (ORDER,)  # columns of the phase files that the final shards leave out
Slice = tuple[str, int, int]  # (file, offset, length)
DRIVER_SHARD_BYTES = 64 << 20  # a lone shard of at most this much input is written by the driver itself


def plan_shards(files: list[tuple[str, int]], shard_rows: int) -> list[list[Slice]]:
    """Cut the concatenation of `files` (in order) into consecutive slices of `shard_rows` rows."""
    shards: list[list[Slice]] = []
    current: list[Slice] = []
    room = shard_rows
    for path, rows in files:
        offset = 0
        while offset < rows:
            take = min(room, rows - offset)
            current.append((path, offset, take))
            offset += take
            room -= take
            if room == 0:
                shards.append(current)
                current, room = [], shard_rows
    if current:
        shards.append(current)
    return shards


def _slice_tables(slices: list[Slice], schema: pa.Schema) -> Iterator[pa.Table]:
    """The rows of `slices`, read one row group at a time, conformed to `schema` and without internal columns."""
    empty = schema.empty_table()
    for path, offset, length in slices:
        pf = pq.ParquetFile(path)
        start = 0
        for group in range(pf.metadata.num_row_groups):
            rows = pf.metadata.row_group(group).num_rows
            lo, hi = max(offset, start), min(offset + length, start + rows)
            if lo < hi:
                table = pf.read_row_group(group).slice(lo - start, hi - lo)
                table = pa.concat_tables([empty, table], promote_options="default")
                yield table.drop_columns([c for c in INTERNAL_COLUMNS if c in table.column_names])
            start += rows


def write_slices(slices: list[Slice], out_dir: Path, index: int) -> ShardInfo:
    """Write the concatenated `slices` (columns unified as `pa.concat_tables` does) as shard `index`."""
    schema = pa.unify_schemas([pq.read_schema(path) for path, _, _ in slices], promote_options="default")
    output = pa.schema([f for f in schema if f.name not in INTERNAL_COLUMNS], metadata=schema.metadata)
    return write_shard_stream(_slice_tables(slices, schema), output, out_dir, index)


@ray.remote(num_cpus=1)
def _write_shard_task(slices: list[Slice], out_dir: str, index: int) -> dict:
    return asdict(write_slices(slices, Path(out_dir), index))


def write_final_shards(
    files: list[tuple[str, int]], out_dir: Path, shard_rows: int, progress: Progress | None = None
) -> tuple[list[ShardInfo], pa.Schema | None]:
    """Replace `<out_dir>/data/` with the shards of `files`; returns the shards and the output schema. A run that
    kept no row has one zero-row shard of its rows' schema when `files` is a zero-row file that carries it, else
    (no schema known) no shard and schema None: `data/` is then an empty folder. `progress` advances as shards
    are written."""
    data_dir = out_dir / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    plan = plan_shards(files, shard_rows)
    if not plan and files:  # no row, but a zero-row file that carries their schema: one zero-row shard of it
        plan = [[(files[0][0], 0, 0)]]
    progress = progress or Progress()
    progress.start("shards", len(plan), "shards")
    try:
        if len(plan) == 1 and sum(os.path.getsize(path) for path, _, _ in plan[0]) <= DRIVER_SHARD_BYTES:
            infos = [write_slices(plan[0], out_dir, 0)]  # cheaper than starting a worker for it
            progress.advance(1, infos[0].rows)
        else:
            tasks = [_write_shard_task.remote(s, str(out_dir), i) for i, s in enumerate(plan)]
            pending = list(tasks)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                progress.advance(1, ray.get(ready[0])["rows"])
            infos = [ShardInfo(**d) for d in ray.get(tasks)]
    finally:
        progress.finish()
    schema = pq.read_schema(out_dir / infos[0].path) if infos else None
    return infos, schema
