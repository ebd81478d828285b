"""Planning work units for an input and dispatching each unit to its reader."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.instruct import FORMAT_SCHEMA as INSTRUCT_SCHEMAS
from curation.io.instruct import INSTRUCT_FORMATS, INSTRUCT_READERS
from curation.io.interleaved import INTERLEAVED_FORMATS, read_interleaved_webdataset, read_obelics
from curation.io.jsonl import read_jsonl
from curation.io.mmc4 import read_mmc4
from curation.io.parquet import IMG2DATASET_RENAMES, read_img2dataset, read_parquet, row_groups
from curation.io.reader_stats import ReaderStats
from curation.io.units import InputError, Unit, expand_paths, sniff_format
from curation.io.warc import read_arc, read_warc, split_ranges
from curation.io.webdataset import read_webdataset
from curation.rows import INTERLEAVED_ROW, JSONL_DOCUMENT, WARC_RECORD, WDS_PAIR

FORMATS = (
    "auto",
    "warc",
    "arc",
    "wet",
    "jsonl",
    "parquet",
    "img2dataset",
    "webdataset",
    *INTERLEAVED_FORMATS,
    *INSTRUCT_FORMATS,
)
READER_SCHEMAS = {
    "warc": WARC_RECORD,
    "arc": WARC_RECORD,
    "jsonl": JSONL_DOCUMENT,
    "webdataset": WDS_PAIR,
    **{fmt: INTERLEAVED_ROW for fmt in INTERLEAVED_FORMATS},
    **INSTRUCT_SCHEMAS,
}
Reader = Callable[[Unit, ReaderStats, int], Iterator[pa.Table]]
READERS: dict[str, Reader] = {
    "warc": read_warc,
    "arc": read_arc,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "img2dataset": read_img2dataset,
    "webdataset": read_webdataset,
    "mmc4": read_mmc4,
    "obelics": read_obelics,
    "webdataset_interleaved": read_interleaved_webdataset,
    **INSTRUCT_READERS,
}


def read_unit(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Batches of one work unit. A file of unknown format is one counted error, not a crash."""
    reader = READERS.get(unit.format)
    if reader is None:
        if unit.format != "empty":
            stats.error(f"unknown_format:{unit.format}")
        return iter(())
    return reader(unit, stats, batch_rows)


def file_units(path: str, fmt: str, unit_bytes: int) -> list[tuple[str, str, int, int, int]]:
    """(path, format, start, end, row_group) pieces of one file; runs where the file is (a Ray task).

    The content decides the format; the declared one (`wet` reads as `warc`) is used where sniffing fails,
    so that its reader reports why the file is unreadable.
    """
    if fmt in INSTRUCT_FORMATS:  # JSON, JSON lines or parquet records of a declared instruction format
        return [(path, fmt, 0, -1, -1)]
    detected = sniff_format(path)
    if detected == "unknown" and fmt != "auto":
        detected = "warc" if fmt == "wet" else fmt
    if detected == "warc":
        return [(path, "warc", s, e, -1) for s, e in split_ranges(path, unit_bytes)]
    if detected == "parquet":
        try:
            n = row_groups(path)
        except (OSError, pa.ArrowException, ValueError):  # a damaged footer fails in many ways
            n = 1  # an unreadable footer: the reader counts the file as an error
        kind = fmt if fmt in ("img2dataset", "obelics") else "parquet"
        return [(path, kind, 0, -1, g) for g in range(max(n, 1))]
    if INTERLEAVED_FORMATS.get(fmt) == detected:  # an interleaved reading of a JSONL or tar file
        detected = fmt
    return [(path, detected, 0, -1, -1)]


SCHEMA_SAMPLE_FILES = 64  # input files whose format (and parquet footer) `reader_columns` looks at


def _file_columns(path: str, fmt: str) -> set[str] | None:
    """The columns the reader gives one file (its format decided as `file_units` does); None where the file is
    unreadable or of no known format (its reader counts it as an error)."""
    if (
        fmt in INSTRUCT_FORMATS or fmt in INTERLEAVED_FORMATS
    ):  # a declared format decides the reader, as in `file_units`
        return set(READER_SCHEMAS[fmt].names)
    try:
        detected = sniff_format(path)
    except OSError:
        return None
    if detected == "unknown" and fmt != "auto":
        detected = "warc" if fmt == "wet" else fmt
    if detected in READER_SCHEMAS:
        return set(READER_SCHEMAS[detected].names)
    if detected == "parquet":
        try:
            names = pq.read_schema(path).names
        except (OSError, pa.ArrowException):
            return None
        return {IMG2DATASET_RENAMES.get(n, n) for n in names} if fmt == "img2dataset" else set(names)
    return None


def reader_columns(fmt: str, files: list[str]) -> frozenset[str] | None:
    """The columns the readers give `files`: the union over the first `SCHEMA_SAMPLE_FILES` readable ones (parquet
    from the footers); None when none of them is."""
    known = [c for c in (_file_columns(path, fmt) for path in files[:SCHEMA_SAMPLE_FILES]) if c is not None]
    return frozenset().union(*known) if known else None


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InputError(f"input.format must be one of {list(FORMATS)}, got {fmt!r}")


__all__ = [
    "FORMATS",
    "InputError",
    "Unit",
    "check_format",
    "expand_paths",
    "file_units",
    "read_unit",
    "reader_columns",
]
