"""A small file-based MapReduce on Ray tasks (key shuffles), for the sub-phases of global stages.

`map_files` runs a function over each input parquet file (one task per file, batch by batch). `shuffle` runs a
map function over the batches of each input file, partitions its output rows on a key column (by hash, or by
ranges), writes one parquet piece per (map task, batch, partition), then runs a reduce function over each
partition (one task per partition). A task holds one batch or one partition, never the whole data set, and
the driver only sees file names and small counters. Each call is a resumable sub-phase (`<work_dir>/<name>/` with `_SUCCESS.json`).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from curation.io.atomic import atomic_path
from curation.io.parquet import iter_tables
from curation.io.shards import atomic_write_json, write_parquet_atomic
from curation.stagekit.hashing import mix64
from curation.stagekit.memory import release_memory

SUCCESS = "_SUCCESS.json"
Result = pa.Table | tuple[pa.Table, dict[str, int]]


def _split(result: Result) -> tuple[pa.Table, dict[str, int]]:
    return result if isinstance(result, tuple) else (result, {})


def done(work_dir: Path, name: str) -> dict | None:
    """The marker of a finished sub-phase, or None."""
    marker = work_dir / name / SUCCESS
    return json.loads(marker.read_text()) if marker.exists() else None


def _finish(folder: Path, outputs: list[tuple[str | None, int, dict]], extra: dict | None = None) -> dict:
    counters: Counter[str] = Counter()
    for _, _, stats in outputs:
        counters.update(stats)
    marker = {
        "files": [path for path, _, _ in outputs if path],
        "rows": sum(rows for _, rows, _ in outputs),
        "stats": dict(counters),
        **(extra or {}),
    }
    atomic_write_json(folder / SUCCESS, marker)
    return marker


def _fresh(work_dir: Path, name: str) -> Path:
    folder = work_dir / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _write(table: pa.Table, path: Path) -> str | None:
    if table.num_rows == 0:
        return None
    write_parquet_atomic(table, path)
    return str(path)


BATCH_ROWS = 4096  # rows a map function sees at once: memory per task is bounded by this, not by file size


def _write_each(tables: Iterator[Result], out: str) -> tuple[str | None, int, dict[str, int]]:
    """Write every non-empty table to one parquet file as it comes (memory: one table at a time)."""
    counters: Counter[str] = Counter()
    rows, writer = 0, None
    with ExitStack() as files:  # closed in reverse: the writer, then the atomic file is published
        for result in tables:
            table, stats = _split(result)
            counters.update(stats)
            if table.num_rows:
                if writer is None:
                    tmp = files.enter_context(atomic_path(out))
                    writer = files.enter_context(pq.ParquetWriter(tmp, table.schema, compression="zstd"))
                writer.write_table(table)
                rows += table.num_rows
    return (out if writer is not None else None), rows, dict(counters)


@ray.remote(num_cpus=1)
def _map_task(path: str, fn: Callable[[pa.Table], Result], out: str, columns: list[str] | None) -> tuple:
    written = _write_each((fn(batch) for batch in iter_tables(path, BATCH_ROWS, columns)), out)
    release_memory()
    return written


def map_files(
    work_dir: Path,
    name: str,
    inputs: list[str],
    fn: Callable[[pa.Table], Result],
    columns: list[str] | None = None,
) -> dict:
    """`fn` over every input file, output file i for input file i (so `_order` ranges carry over)."""
    finished = done(work_dir, name)
    if finished is not None:
        return finished
    folder = _fresh(work_dir, name)
    refs = [
        _map_task.remote(p, fn, str(folder / "data" / f"f{i:05d}.parquet"), columns)
        for i, p in enumerate(inputs)
    ]
    return _finish(folder, ray.get(refs))


def hash_partition(keys: np.ndarray, parts: int) -> np.ndarray:
    """Partition of each int64/uint64 key, spread by `mix64`."""
    return (mix64(keys.view(np.uint64)) % np.uint64(parts)).astype(np.int64)


def range_partition(bounds: list[int]) -> Callable[[np.ndarray, int], np.ndarray]:
    """Partition i holds keys in [bounds[i], bounds[i+1]) (the first also everything below, the last above)."""
    starts = np.asarray(bounds[1:], dtype=np.int64)
    return lambda keys, _parts: np.searchsorted(starts, keys, side="right").astype(np.int64)


@ray.remote(num_cpus=1)
def _scatter_task(
    path: str, fn: Callable[[pa.Table], Result] | None, key: str, parts: int, partitioner: Callable, out: str
) -> dict:
    counters: Counter[str] = Counter()
    for index, batch in enumerate(iter_tables(path, BATCH_ROWS)):
        table, stats = _split(fn(batch)) if fn else (batch, {})
        counters.update(stats)
        if not table.num_rows:
            continue
        part = partitioner(table.column(key).to_numpy(), parts)
        order = np.argsort(part, kind="stable")
        table, counts = table.take(order), np.bincount(part, minlength=parts)
        offsets = np.concatenate(([0], np.cumsum(counts)))
        for p in np.flatnonzero(counts):
            piece = table.slice(offsets[p], counts[p])
            write_parquet_atomic(piece, Path(out) / f"p{p:05d}" / f"b{index:05d}.parquet")
    release_memory()
    return dict(counters)


@ray.remote(num_cpus=1)
def _gather_task(
    folders: list[str],
    fn: Callable[[pa.Table, int], Result],
    part: int,
    schema: pa.Schema,
    out: str,
    row_wise: bool,
) -> tuple:
    found = sorted(str(p) for folder in folders for p in Path(folder).glob("*.parquet"))
    if row_wise:  # `fn` treats rows independently: feed it one scattered piece at a time
        written = _write_each((fn(pq.read_table(p), part) for p in found), out)
    else:
        table = pa.concat_tables([pq.read_table(p) for p in found]) if found else schema.empty_table()
        result, stats = _split(fn(table, part))
        written = _write(result, Path(out)), result.num_rows, stats
    release_memory()
    return written


def shuffle(
    work_dir: Path,
    name: str,
    inputs: list[str],
    key: str,
    parts: int,
    reduce_fn: Callable[[pa.Table, int], Result],
    schema: pa.Schema,
    map_fn: Callable[[pa.Table], Result] | None = None,
    partitioner: Callable[[np.ndarray, int], np.ndarray] = hash_partition,
    row_wise: bool = False,
) -> dict:
    """map (optional `map_fn`) -> partition on `key` -> `reduce_fn(partition table, partition index)`.

    `schema` is the map output's schema (the table an empty partition gets). Map-side counters are summed in
    the marker's `map_stats`, reduce-side ones in `stats`. `row_wise=True` declares that `reduce_fn` handles
    rows independently (a lookup or filter): it then gets one scattered piece at a time, so a skewed partition
    costs time, not memory.
    """
    finished = done(work_dir, name)
    if finished is not None:
        return finished
    folder = _fresh(work_dir, name)
    scratch = folder / "_scatter"
    map_stats: Counter[str] = Counter()
    for stats in ray.get(
        [
            _scatter_task.remote(p, map_fn, key, parts, partitioner, str(scratch / f"m{i:05d}"))
            for i, p in enumerate(inputs)
        ]
    ):
        map_stats.update(stats)
    refs = [
        _gather_task.remote(
            [str(scratch / f"m{i:05d}" / f"p{part:05d}") for i in range(len(inputs))],
            reduce_fn,
            part,
            schema,
            str(folder / "data" / f"p{part:05d}.parquet"),
            row_wise,
        )
        for part in range(parts)
    ]
    outputs = ray.get(refs)
    shutil.rmtree(scratch, ignore_errors=True)
    return _finish(folder, outputs, {"map_stats": dict(map_stats)})
