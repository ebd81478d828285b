"""Parquet input: one row group per work unit, read in batches."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit


def iter_tables(path: str, batch_rows: int, columns: list[str] | None = None) -> Iterator[pa.Table]:
    """The rows of one parquet file, `batch_rows` at a time, reading one row group's pages at a time.

    (`pre_buffer=False`: pyarrow's default pre-buffers every row group of the read, i.e. the whole file, before
    the first batch, so memory would grow with the file.)
    """
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batch_rows, columns=columns):
        yield pa.Table.from_batches([batch])


def row_groups(path: str) -> int:
    return pq.ParquetFile(path).metadata.num_row_groups


def first_row(unit: Unit) -> int:
    """The index in its file of a unit's first row (0 for a whole-file unit or an unreadable footer)."""
    if unit.row_group <= 0:
        return 0
    try:
        meta = pq.ParquetFile(unit.path).metadata
    except (OSError, pa.ArrowException, ValueError):
        return 0
    return sum(meta.row_group(g).num_rows for g in range(unit.row_group))


def parquet_schema(path: str) -> pa.Schema:
    return pq.read_schema(path)


def read_parquet(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield batches of one row group (or the whole file); an unreadable file is one counted error."""
    try:
        pf = pq.ParquetFile(unit.path, pre_buffer=False)  # a whole-file unit streams, as `iter_tables` does
        groups = [unit.row_group] if unit.row_group >= 0 else None
        for batch in pf.iter_batches(batch_size=batch_rows, row_groups=groups):
            stats.records += batch.num_rows
            yield pa.Table.from_batches([batch])
    except (OSError, pa.ArrowException, ValueError) as exc:  # a damaged file fails in many ways
        stats.error(f"unreadable_parquet:{type(exc).__name__}")


IMG2DATASET_RENAMES = {"key": "uid", "jpg": "image"}
_IMG2DATASET_TYPES: dict[str, tuple[str, object]] = {
    "key": ("a string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    "caption": ("a string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    "url": ("a string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    "status": ("a string", lambda t: pa.types.is_string(t) or pa.types.is_large_string(t)),
    "jpg": ("binary", lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t)),
    "width": ("an integer", pa.types.is_integer),
    "height": ("an integer", pa.types.is_integer),
}


def img2dataset_schema_problems(schema: pa.Schema) -> list[str]:
    """What in a parquet schema does not fit img2dataset's columns (an all-null column fits any type)."""
    problems = []
    for name, (expected, fits) in _IMG2DATASET_TYPES.items():
        index = schema.get_field_index(name)
        if index >= 0:
            kind = schema.field(index).type
            if not (pa.types.is_null(kind) or fits(kind)):
                problems.append(f"column {name!r} is {kind}, expected {expected}")
    return problems


def read_img2dataset(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """img2dataset parquet as pair rows: `key` -> `uid`, `jpg` -> `image`; rows whose `status` is not
    `success` (failed downloads) are skipped and counted."""
    row = first_row(unit)
    for table in read_parquet(unit, stats, batch_rows):
        row, start = row + table.num_rows, row
        table = table.rename_columns([IMG2DATASET_RENAMES.get(c, c) for c in table.column_names])
        missing = [c for c in ("uid", "caption", "image") if c not in table.column_names]
        if missing:
            stats.fail(f"missing_columns:{','.join(missing)}", table.num_rows)
            continue
        if "status" in table.column_names:
            ok = pc.fill_null(pc.equal(table.column("status"), "success"), False)
            for i in pc.indices_nonzero(pc.invert(ok)).to_pylist():
                stats.skip(
                    "skipped_status_not_success",
                    source_offset=start + i,
                    id=table.column("uid")[i].as_py(),
                    url=table.column("url")[i].as_py() if "url" in table.column_names else None,
                )
            table = table.filter(ok)
        for name in ("width", "height"):
            if name in table.column_names:
                table = table.set_column(
                    table.schema.get_field_index(name), name, table.column(name).cast(pa.int32())
                )
        yield table
