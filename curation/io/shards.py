"""The sharded parquet writer and the output manifest (design section 3, "Output").

Layout: `<output>/data/part-NNNNN.parquet` (zstd) plus `<output>/_manifest.json`.
Every file is written under a temporary name and renamed, so a reader never sees half a shard.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.atomic import atomic_path
from curation.rows import check_schema

MANIFEST_NAME = "_manifest.json"
ROW_GROUP_ROWS = 8192


@dataclass(frozen=True)
class ShardInfo:
    """One written shard, as listed in the manifest."""

    path: str  # relative to the output directory
    rows: int
    bytes: int
    sha256: str


def shard_name(index: int) -> str:
    return f"data/part-{index:05d}.parquet"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def write_parquet_atomic(table: pa.Table, path: Path, row_group_rows: int = ROW_GROUP_ROWS) -> None:
    """Write one parquet file (zstd, bounded row groups) atomically."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_rows)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _shard_info(rel: str, path: Path, rows: int) -> ShardInfo:
    return ShardInfo(path=rel, rows=rows, bytes=path.stat().st_size, sha256=file_sha256(path))


def write_shard(table: pa.Table, out_dir: Path, index: int) -> ShardInfo:
    """Write `table` as shard number `index` of `out_dir` and describe it."""
    rel = shard_name(index)
    path = Path(out_dir) / rel
    write_parquet_atomic(table, path)
    return _shard_info(rel, path, table.num_rows)


def write_shard_stream(tables: Iterable[pa.Table], schema: pa.Schema, out_dir: Path, index: int) -> ShardInfo:
    """Write a stream of `schema` tables as shard `index`, one row group at a time (memory: one row group).

    The file is byte-identical to `write_shard` of the tables' concatenation when it has rows.
    """
    rel = shard_name(index)
    path = Path(out_dir) / rel
    rows = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        for group in rebatch(tables, ROW_GROUP_ROWS):
            writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
            rows += group.num_rows
    return _shard_info(rel, path, rows)


def rebatch(tables: Iterable[pa.Table], rows: int) -> Iterator[pa.Table]:
    """Regroup a stream of tables into tables of exactly `rows` rows (the last may be shorter)."""
    pending: list[pa.Table] = []
    have = 0
    for table in tables:
        while table.num_rows:
            take = min(rows - have, table.num_rows)
            pending.append(table.slice(0, take))
            have += take
            table = table.slice(take)
            if have == rows:
                yield pa.concat_tables(pending).combine_chunks()
                pending, have = [], 0
    if have:
        yield pa.concat_tables(pending).combine_chunks()


def write_manifest(out_dir: Path, shards: list[ShardInfo], schema: pa.Schema, **extra: Any) -> dict:
    """Write `_manifest.json` listing the shards, their schema and any extra sections (recipe, stats...)."""
    manifest = {
        "shards": [asdict(s) for s in shards],
        "total_rows": sum(s.rows for s in shards),
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        **extra,
    }
    atomic_write_json(Path(out_dir) / MANIFEST_NAME, manifest)
    return manifest


def write_table_shards(
    tables: Iterable[pa.Table] | pa.Table,
    out_dir: str | Path,
    shard_rows: int = 100_000,
    **manifest_extra: Any,
) -> dict:
    """Write tables as `shard_rows`-row shards plus a manifest; returns the manifest.

    A convenience for small, local outputs (tests, conversions); the runner writes shards in parallel tasks.
    """
    if isinstance(tables, pa.Table):
        tables = [tables]
    out_dir = Path(out_dir)
    shards: list[ShardInfo] = []
    schema = None
    for index, table in enumerate(rebatch(tables, shard_rows)):
        schema = table.schema
        shards.append(write_shard(table, out_dir, index))
    if schema is None:
        raise ValueError("no rows to write")
    return write_manifest(out_dir, shards, schema, **manifest_extra)


class NotARun(ValueError):
    """A folder that is not a finished curate run."""


def read_manifest(out_dir: str | Path) -> dict:
    return json.loads((Path(out_dir) / MANIFEST_NAME).read_text())


def read_finished_manifest(out_dir: str | Path) -> dict:
    """The manifest of a finished run; a folder without one (absent, or a run still under way) is `NotARun`."""
    if not (Path(out_dir) / MANIFEST_NAME).is_file():
        raise NotARun(f"{out_dir} is not a finished curate run (no {MANIFEST_NAME})")
    return read_manifest(out_dir)


def exportable_shards(output: str | Path, columns: str | pa.Schema, name: str = "") -> list[Path]:
    """The shard files of a finished run, each checked to hold `columns` (a contract name or a schema, called
    `name` in the error) before anything is exported: a SchemaMismatch names what is missing."""
    shards = sorted((Path(output) / "data").glob("part-*.parquet"))
    for shard in shards:
        check_schema(pq.read_schema(shard), columns, where=f"{shard} (export --to webdataset)", name=name)
    return shards
