"""Planning work units for an input and dispatching each unit to its reader."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa

from curation.io.jsonl import read_jsonl
from curation.io.parquet import read_img2dataset, read_parquet, row_groups
from curation.io.reader_stats import ReaderStats
from curation.io.units import InputError, Unit, expand_paths, sniff_format
from curation.io.warc import read_arc, read_warc, split_ranges
from curation.io.webdataset import read_webdataset

FORMATS = ("auto", "warc", "arc", "wet", "jsonl", "parquet", "img2dataset", "webdataset")
Reader = Callable[[Unit, ReaderStats, int], Iterator[pa.Table]]
READERS: dict[str, Reader] = {
    "warc": read_warc,
    "arc": read_arc,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "img2dataset": read_img2dataset,
    "webdataset": read_webdataset,
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
    detected = sniff_format(path)
    if detected == "unknown" and fmt != "auto":
        detected = "warc" if fmt == "wet" else fmt
    if detected == "warc":
        return [(path, "warc", s, e, -1) for s, e in split_ranges(path, unit_bytes)]
    if detected == "parquet":
        kind = "img2dataset" if fmt == "img2dataset" else "parquet"
        try:
            n = row_groups(path)
        except (OSError, pa.ArrowException, ValueError):  # a damaged footer fails in many ways
            n = 1  # an unreadable footer: the reader counts the file as an error
        return [(path, kind, 0, -1, g) for g in range(max(n, 1))]
    return [(path, detected, 0, -1, -1)]


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InputError(f"input.format must be one of {list(FORMATS)}, got {fmt!r}")


__all__ = ["FORMATS", "InputError", "Unit", "check_format", "expand_paths", "file_units", "read_unit"]
