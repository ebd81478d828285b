"""Write the final shards from ordered phase files: fixed-size row ranges, one Ray task per shard."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import ray

from curation.io.shards import ShardInfo, write_shard

INTERNAL_COLUMNS = ("_order",)
Slice = tuple[str, int, int]  # (file, offset, length)


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


@ray.remote(num_cpus=1)
def _write_shard_task(slices: list[Slice], out_dir: str, index: int) -> dict:
    parts = [pq.read_table(path).slice(offset, length) for path, offset, length in slices]
    table = pa.concat_tables(parts, promote_options="default")
    table = table.drop_columns([c for c in INTERNAL_COLUMNS if c in table.column_names])
    return asdict(write_shard(table.combine_chunks(), Path(out_dir), index))


def write_final_shards(
    files: list[tuple[str, int]], out_dir: Path, shard_rows: int
) -> tuple[list[ShardInfo], pa.Schema | None]:
    """Replace `<out_dir>/data/` with the shards of `files`; returns the shards and the output schema."""
    data_dir = out_dir / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    plan = plan_shards(files, shard_rows)
    infos = [
        ShardInfo(**d)
        for d in ray.get([_write_shard_task.remote(s, str(out_dir), i) for i, s in enumerate(plan)])
    ]
    schema = pq.read_schema(out_dir / infos[0].path) if infos else None
    return infos, schema
