"""Look up a per-row column of `_order`-ranged parquet files for a set of `_order` keys (a range join)."""

from __future__ import annotations

import functools
import os

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.rows import ORDER


def starts(bounds: list[tuple[int, int]]) -> list[int]:
    """Range-partition boundaries from per-file (min, max) `_order` bounds, in file order."""
    return [lo for lo, _ in sorted(bounds)]


@functools.lru_cache(maxsize=1)
def _read(path: str, column: str, stamp: tuple[int, int]) -> pa.Table:
    """One file's (`_order`, column), cached per worker process (keyed by mtime and size: files are immutable).

    One entry: a range-partitioned task looks up one file's range, piece after piece; more entries would only
    keep earlier tasks' files resident in a reused worker.
    """
    return pq.read_table(path, columns=[ORDER, column]).combine_chunks()


def lookup(keys: pa.Array, files: list[str], bounds: list[tuple[int, int]], column: str) -> pa.Array:
    """`column` of the row whose `_order` equals each key (null where absent); reads only overlapping files."""
    if len(keys) == 0:
        return pa.array([], pq.read_schema(files[0]).field(column).type) if files else pa.array([])
    lo, hi = pc.min(keys).as_py(), pc.max(keys).as_py()
    tables = [
        _read(f, column, (os.stat(f).st_mtime_ns, os.stat(f).st_size))
        for f, (a, b) in zip(files, bounds, strict=True)
        if a <= hi and b >= lo
    ]
    table = pa.concat_tables(tables).combine_chunks()
    return table.column(column).take(pc.index_in(keys, table.column(ORDER)))
