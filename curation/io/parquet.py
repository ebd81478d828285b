"""Parquet input: one row group per work unit, read in batches."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit


def row_groups(path: str) -> int:
    return pq.ParquetFile(path).metadata.num_row_groups


def read_parquet(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield batches of one row group (or the whole file); an unreadable file is one counted error."""
    try:
        pf = pq.ParquetFile(unit.path)
        groups = [unit.row_group] if unit.row_group >= 0 else None
        for batch in pf.iter_batches(batch_size=batch_rows, row_groups=groups):
            stats.records += batch.num_rows
            yield pa.Table.from_batches([batch])
    except (OSError, pa.ArrowException) as exc:
        stats.error(f"unreadable_parquet:{type(exc).__name__}")
