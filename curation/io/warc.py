"""WARC/WET and ARC readers.

WARC and WET are parsed with FastWARC (several times faster than warcio in our measurements, and it reads
WARC/0.18 and ClueWeb quirks in quirks mode). FastWARC ends quietly at a truncated or corrupt gzip stream, so
after the last record the rest of the range is checked with zlib and any unread part is counted as an error.
ARC files go through warcio, the one of the two that reads ARC. Only `response` and `conversion` (WET) records become rows; other types are counted as skipped.
"""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Iterator

import pyarrow as pa

from curation.io.reader_stats import ReaderStats
from curation.io.units import GZIP_MAGIC, Unit

RAW_DOCUMENT = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("warc_date", pa.string()),
        ("source", pa.string()),
        ("content_type", pa.string()),
        ("http_charset", pa.string()),
        ("payload", pa.binary()),
    ]
)
KEPT_TYPES = ("response", "conversion")


def _read_range(unit: Unit) -> bytes:
    with open(unit.path, "rb") as fh:
        fh.seek(unit.start)
        return fh.read() if unit.end < 0 else fh.read(unit.end - unit.start)


def unread_tail(data: bytes, last_start: int) -> str | None:
    """Why bytes after the last record FastWARC returned were not read, or None when the range ended cleanly.

    The gzip members from the last record on are inflated one by one: a member that does not end is a truncated
    stream, one that does not inflate is corrupt, and complete members beyond the last record were unreadable.
    """
    rest = data[last_start:]
    members = 0
    while rest.strip(b"\r\n\x00"):
        if rest[:2] != GZIP_MAGIC:
            return "unreadable_rest" if members else None
        inflater = zlib.decompressobj(wbits=31)
        try:
            inflater.decompress(rest)
        except zlib.error:
            return "corrupt_gzip"
        if not inflater.eof:
            return "truncated_stream"
        members += 1
        if members > 1:
            return "unreadable_rest"
        rest = inflater.unused_data
    return None


def record_boundaries(path: str) -> list[int]:
    """Start offsets of the records of a WARC file, in file bytes; [0] when it cannot be split.

    Offsets are file offsets for uncompressed files and gzip-member-per-record files. A single gzip member
    (all offsets equal) cannot be split.
    """
    from fastwarc.warc import ArchiveIterator

    offsets: list[int] = []
    try:
        for record in ArchiveIterator(path, quirks_mode=True, parse_http=False):
            offsets.append(record.stream_pos)
    except OSError:
        pass  # a corrupt tail: the reader reports it for the last range
    if len(set(offsets)) != len(offsets) or not offsets:
        return [0]
    return offsets


def split_ranges(path: str, target_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of about `target_bytes`, cut at record starts."""
    size = os.path.getsize(path)
    if size <= target_bytes:
        return [(0, -1)]
    starts = record_boundaries(path)
    ranges: list[tuple[int, int]] = []
    begin = 0
    for offset in starts[1:]:
        if offset - begin >= target_bytes:
            ranges.append((begin, offset))
            begin = offset
    ranges.append((begin, -1))
    return ranges


def _record_type_name(record) -> str:  # noqa: ANN001 - FastWARC record
    return str(record.record_type).rsplit(".", 1)[-1]


def read_warc(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield RAW_DOCUMENT batches from a WARC/WET byte range; count skipped records and errors in `stats`."""
    from fastwarc.warc import ArchiveIterator

    data = _read_range(unit)
    name = os.path.basename(unit.path)
    rows: dict[str, list] = {f.name: [] for f in RAW_DOCUMENT}
    records = ArchiveIterator(io.BytesIO(data), quirks_mode=True, parse_http=True)
    last_start = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except (OSError, ValueError) as exc:
            stats.error(f"unreadable_stream:{type(exc).__name__}")
            break
        kind = _record_type_name(record)
        stats.records += 1
        last_start = record.stream_pos
        if kind not in KEPT_TYPES:
            stats.skip(f"skipped_{kind}")
            continue
        try:
            payload = record.reader.read()
        except (OSError, ValueError) as exc:
            stats.errors[f"unreadable_record:{type(exc).__name__}"] += 1  # this record is already counted
            continue
        headers = record.headers
        source = f"{name}:{unit.start + record.stream_pos}"
        rid = (headers.get("WARC-Record-ID") or "").strip("<>").removeprefix("urn:uuid:")
        rows["id"].append(rid or source)
        rows["url"].append(headers.get("WARC-Target-URI"))
        rows["warc_date"].append(headers.get("WARC-Date"))
        rows["source"].append(source)
        if kind == "conversion":
            rows["content_type"].append("text/plain")
            rows["http_charset"].append("utf-8")
        else:
            rows["content_type"].append(
                record.http_content_type if record.is_http else headers.get("Content-Type")
            )
            rows["http_charset"].append(record.http_charset if record.is_http else None)
        rows["payload"].append(payload)
        if len(rows["id"]) >= batch_rows:
            yield pa.Table.from_pydict(rows, schema=RAW_DOCUMENT)
            rows = {k: [] for k in rows}
    if stats.records == 0 and not stats.errors and data.strip():
        stats.error("no_warc_records")
    elif stats.records and (reason := unread_tail(data, last_start)):
        stats.errors[reason] += 1  # the broken part counts as one record that produced no row
        stats.records += 1
    if rows["id"]:
        yield pa.Table.from_pydict(rows, schema=RAW_DOCUMENT)


def read_arc(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield RAW_DOCUMENT batches from an ARC file through warcio (which converts ARC records to WARC form)."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    name = os.path.basename(unit.path)
    rows: dict[str, list] = {f.name: [] for f in RAW_DOCUMENT}
    with open(unit.path, "rb") as fh:
        records = ArchiveIterator(fh, arc2warc=True)
        while True:
            try:
                record = next(records)
                payload = record.content_stream().read() if record.rec_type == "response" else None
            except StopIteration:
                break
            except (ArchiveLoadFailed, OSError, EOFError, ValueError) as exc:
                stats.error(f"arc_unparseable_rest:{type(exc).__name__}")
                break
            stats.records += 1
            if record.rec_type != "response":
                stats.skip(f"skipped_{record.rec_type}")
                continue
            headers = record.rec_headers
            offset = records.get_record_offset()
            ctype = record.http_headers.get_header("Content-Type") if record.http_headers else None
            charset = None
            if ctype and "charset=" in ctype.lower():
                charset = ctype.lower().split("charset=", 1)[1].split(";")[0].strip()
            rows["id"].append(f"{name}:{offset}")
            rows["url"].append(headers.get_header("WARC-Target-URI"))
            rows["warc_date"].append(headers.get_header("WARC-Date"))
            rows["source"].append(f"{name}:{offset}")
            rows["content_type"].append(ctype.split(";")[0].strip() if ctype else None)
            rows["http_charset"].append(charset)
            rows["payload"].append(payload)
            if len(rows["id"]) >= batch_rows:
                yield pa.Table.from_pydict(rows, schema=RAW_DOCUMENT)
                rows = {k: [] for k in rows}
    if rows["id"]:
        yield pa.Table.from_pydict(rows, schema=RAW_DOCUMENT)
