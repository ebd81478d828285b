"""WARC/WET and ARC readers.

WARC and WET are parsed with FastWARC (several times faster than warcio in our measurements, and it reads
WARC/0.18 and ClueWeb quirks in quirks mode). FastWARC ends quietly at a truncated or corrupt gzip stream, so
after the last record the rest of the range is checked with zlib and any unread part is counted as an error.
ARC files go through our own tolerant parser (warcio stops at the first bad length). Only `response` and `conversion` (WET) records become rows; other types are counted as skipped.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import zlib
from collections.abc import Iterator

import pyarrow as pa

from curation.io.reader_stats import ReaderStats
from curation.io.units import GZIP_MAGIC, Unit
from curation.rows import WARC_RECORD

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
    """Yield WARC_RECORD batches from a WARC/WET byte range; count skipped records and errors in `stats`."""
    from fastwarc.warc import ArchiveIterator

    data = _read_range(unit)
    name = os.path.basename(unit.path)
    rows: dict[str, list] = {f.name: [] for f in WARC_RECORD}
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
            yield pa.Table.from_pydict(rows, schema=WARC_RECORD)
            rows = {k: [] for k in rows}
    if stats.records == 0 and not stats.errors and data.strip():
        stats.error("no_warc_records")
    elif stats.records and (reason := unread_tail(data, last_start)):
        stats.errors[reason] += 1  # the broken part counts as one record that produced no row
        stats.records += 1
    if rows["id"]:
        yield pa.Table.from_pydict(rows, schema=WARC_RECORD)


_ARC_HEADER = re.compile(rb"(\S+) (\S+) (\d{14}) (\S*) (\d+)\r?\n")
_ARC_NEXT = re.compile(rb"(?m)^[a-z][a-z0-9+.-]*://\S* \S+ \d{14} \S* \d+\r?$")


def _inflate_all(data: bytes) -> tuple[bytes, str | None]:
    """Decompress every gzip member of `data`; returns what could be read and why the rest could not."""
    if data[:2] != GZIP_MAGIC:
        return data, None
    out, rest = [], data
    while rest.strip(b"\r\n\x00"):
        inflater = zlib.decompressobj(wbits=31)
        try:
            out.append(inflater.decompress(rest))
        except zlib.error:
            return b"".join(out), "corrupt_gzip"
        if not inflater.eof:
            return b"".join(out), "truncated_stream"
        rest = inflater.unused_data
    return b"".join(out), None


def _dechunk(body: bytes) -> bytes:
    """Undo HTTP chunked transfer encoding (lenient: stops at the first malformed chunk)."""
    out, pos = [], 0
    while True:
        end = body.find(b"\n", pos)
        if end < 0:
            break
        try:
            size = int(body[pos:end].split(b";")[0].strip() or b"0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out.append(body[end + 1 : end + 1 + size])
        pos = end + 1 + size + (2 if body[end + 1 + size : end + 3 + size] == b"\r\n" else 1)
    return b"".join(out)


def parse_http_response(block: bytes) -> tuple[str | None, str | None, bytes]:
    """(content type, charset, decoded body) of a stored HTTP response; tolerant of `Name:value` headers."""
    split = min((i for i in (block.find(b"\r\n\r\n"), block.find(b"\n\n")) if i >= 0), default=-1)
    if split < 0 or not block.startswith(b"HTTP/"):
        return None, None, block
    head = block[:split].decode("latin-1")
    body = block[split:].lstrip(b"\r\n")
    headers = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    ctype = headers.get("content-type", "")
    charset = (
        ctype.lower().split("charset=", 1)[1].split(";")[0].strip() if "charset=" in ctype.lower() else None
    )
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    if headers.get("content-encoding", "").lower() in ("gzip", "x-gzip", "deflate"):
        with contextlib.suppress(zlib.error):  # undecodable bodies are kept as stored; extraction judges them
            body = zlib.decompress(body, wbits=47)
    return (ctype.split(";")[0].strip() or None), charset, body


def read_arc(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield WARC_RECORD batches from an ARC (v1) file, gzip'd or not.

    Our own tolerant parser: real Common Crawl ARC files carry record lengths that do not match their content,
    which stops warcio after the first record. A record whose header is not where its predecessor's length says
    is found again by the next header line; the bytes skipped count as one error (`arc_resync`).
    """
    data, tail_error = _inflate_all(_read_range(unit))
    name = os.path.basename(unit.path)
    rows: dict[str, list] = {f.name: [] for f in WARC_RECORD}
    pos = 0
    while pos < len(data):
        while pos < len(data) and data[pos : pos + 1] in (b"\n", b"\r"):
            pos += 1
        if pos >= len(data):
            break
        match = _ARC_HEADER.match(data, pos)
        if match is None:
            found = _ARC_NEXT.search(data, pos + 1)
            stats.error("arc_resync" if found else "arc_unparseable_rest")
            if not found:
                break
            pos = found.start()
            continue
        url, _ip, date, _mime, length = (g.decode("latin-1") for g in match.groups())
        block = data[match.end() : match.end() + int(length)]
        offset, pos = pos, match.end() + int(length)
        stats.records += 1
        if url.startswith("filedesc://"):
            stats.skip("skipped_filedesc")
            continue
        ctype, charset, body = parse_http_response(block)
        rows["id"].append(f"{name}:{offset}")
        rows["url"].append(url)
        rows["warc_date"].append(
            f"{date[:4]}-{date[4:6]}-{date[6:8]}T{date[8:10]}:{date[10:12]}:{date[12:14]}Z"
        )
        rows["source"].append(f"{name}:{offset}")
        rows["content_type"].append(ctype)
        rows["http_charset"].append(charset)
        rows["payload"].append(body)
        if len(rows["id"]) >= batch_rows:
            yield pa.Table.from_pydict(rows, schema=WARC_RECORD)
            rows = {k: [] for k in rows}
    if tail_error:
        stats.error(tail_error)
    if rows["id"]:
        yield pa.Table.from_pydict(rows, schema=WARC_RECORD)
