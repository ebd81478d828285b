"""WARC/WET and ARC readers.

Records are framed by our own damage-tolerant reader (`warc_records`: a broken gzip member, a wrong length or a
bad header costs that record, counted, and reading resumes at the next member or version line); FastWARC only
finds record starts to split big files into work units. ARC files go through our own tolerant parser (warcio
stops at the first bad length). HTTP bodies are dechunked and their `Content-Encoding` undone under a size cap.
Only `response` and `conversion` (WET) records become rows; other types are counted as skipped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pyarrow as pa

from curation.io.byte_stream import ByteStream
from curation.io.http_body import BodyError, decoded_body, split_response
from curation.io.reader_stats import ReaderStats
from curation.io.units import GZIP_MAGIC, Unit
from curation.io.warc_records import MAX_BLOCK_BYTES, Broken, WarcFramer
from curation.rows import WARC_RECORD

KEPT_TYPES = ("response", "conversion")


def _read_range(unit: Unit) -> bytes:
    with open(unit.path, "rb") as fh:
        fh.seek(unit.start)
        return fh.read() if unit.end < 0 else fh.read(unit.end - unit.start)


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


_RECORD_TYPES = (
    "warcinfo",
    "response",
    "resource",
    "request",
    "metadata",
    "revisit",
    "conversion",
    "continuation",
)


class _Rows:
    """WARC_RECORD columns being filled, emitted `batch_rows` at a time."""

    def __init__(self) -> None:
        self.cols: dict[str, list] = {f.name: [] for f in WARC_RECORD}

    def add(self, rid: str, url: str | None, date: str | None, source: str, fields: tuple) -> None:
        """One row; `fields` is (content type, charset, payload)."""
        for column, value in zip(self.cols.values(), (rid, url, date, source, *fields), strict=True):
            column.append(value)

    def take(self, at_least: int) -> pa.Table | None:
        if len(self.cols["id"]) < max(at_least, 1):
            return None
        table = pa.Table.from_pydict(self.cols, schema=WARC_RECORD)
        self.cols = {k: [] for k in self.cols}
        return table


def _http_fields(
    block: bytes, stats: ReaderStats, **where: object
) -> tuple[str | None, str | None, bytes] | None:
    """(content type, charset, decoded body) of a stored HTTP response; None (counted, `where` in its reject)
    when it cannot decode."""
    response = split_response(block)
    if response is None:
        return None, None, block
    try:
        return response.content_type, response.charset, decoded_body(response)
    except BodyError as exc:
        stats.fail(str(exc), **where)  # the record is already counted as read
        return None


def read_warc(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield WARC_RECORD batches from a WARC/WET byte range; count skipped records and broken parts in `stats`.

    A range in which nothing is a WARC record is one `no_warc_records` error.
    """
    data = _read_range(unit)
    name = os.path.basename(unit.path)
    rows = _Rows()
    unreadable: list[Broken] = []  # broken parts seen before the first record
    seen_record = False
    for item in WarcFramer(ByteStream(data, data[:2] == GZIP_MAGIC)):
        if isinstance(item, Broken):
            if seen_record:
                stats.error(item.reason, source_offset=unit.start + item.offset)
            else:
                unreadable.append(item)
            continue
        if not seen_record:
            seen_record = True
            for broken in unreadable:
                stats.error(broken.reason, source_offset=unit.start + broken.offset)
        stats.records += 1
        headers = item.headers
        offset = unit.start + item.offset
        source = f"{name}:{offset}"
        rid = (_header(headers, "WARC-Record-ID") or "").strip("<>").removeprefix("urn:uuid:")
        url = _target_uri(_header(headers, "WARC-Target-URI"))
        where = {"source_offset": offset, "id": rid or source, "url": url}
        record_type = (_header(headers, "WARC-Type") or "").strip().lower()
        kind = record_type if record_type in _RECORD_TYPES else "unknown"
        if kind not in KEPT_TYPES:
            stats.skip(f"skipped_{kind}", **where, record_type=record_type or None)
            continue
        if kind == "conversion":
            fields: tuple | None = ("text/plain", "utf-8", item.block)
        else:
            fields = _http_fields(item.block, stats, **where, record_type=kind)
            if fields is not None and fields[0] is None and not item.block.startswith(b"HTTP/"):
                ctype = _header(headers, "Content-Type")
                fields = (ctype.split(";")[0].strip() if ctype else None, None, item.block)
        if fields is None:
            continue
        rows.add(rid or source, url, _header(headers, "WARC-Date"), source, fields)
        if (table := rows.take(batch_rows)) is not None:
            yield table
    if not seen_record and unreadable:
        if all(b.reason == "bad_version_line" for b in unreadable):
            stats.error("no_warc_records", source_offset=unit.start)
        else:
            for broken in unreadable:
                stats.error(broken.reason, source_offset=unit.start + broken.offset)
    if (table := rows.take(1)) is not None:
        yield table


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _target_uri(value: str | None) -> str | None:
    """The URI without the angle brackets that WARC 1.0's grammar shows and some writers (Wget 1.19, Dolma's
    samples) put round it; spaces, which a URI cannot hold, percent-encoded."""
    if value is None:
        return None
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1].strip()
    return value.replace(" ", "%20")


_ARC_HEADER = re.compile(rb"(\S+) (\S+) (\d{14}) (\S*) (\d+)\r?\n")
_ARC_NEXT = re.compile(rb"(?m)^[a-z][a-z0-9+.-]*://\S* \S+ \d{14} \S* \d+\r?$")


def _arc_date(date: str) -> str:
    return f"{date[:4]}-{date[4:6]}-{date[6:8]}T{date[8:10]}:{date[10:12]}:{date[12:14]}Z"


def read_arc(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield WARC_RECORD batches from an ARC (v1) file, gzip'd or not.

    Our own tolerant parser: real Common Crawl ARC files carry record lengths that do not match their content,
    which stops warcio after the first record. A record whose header is not where its predecessor's length says
    is found again by the next header line; the bytes skipped count as one error (`arc_resync`). A broken gzip
    member is one error and reading goes on at the next member.
    """
    data = _read_range(unit)
    stream = ByteStream(data, data[:2] == GZIP_MAGIC)
    name = os.path.basename(unit.path)
    rows = _Rows()
    pos = 0
    while True:
        stream.fill(pos + 1)
        buf = stream.buf
        rel = pos - stream.base
        while rel < len(buf) and buf[rel] in b"\r\n":
            rel += 1
        pos = stream.base + rel
        if not stream.fill(pos + 1):
            if stream.damage is None:
                break
            stats.error(stream.damage, source_offset=unit.start + pos)
            if not stream.recover():
                break
            pos = stream.base
            continue
        stream.release(pos)
        stream.fill(pos + 4096)
        match = _ARC_HEADER.match(stream.buf, pos - stream.base)
        if match is None or int(match.group(5)) > MAX_BLOCK_BYTES:
            stream.fill(pos + MAX_BLOCK_BYTES)
            found = _ARC_NEXT.search(stream.buf, pos - stream.base + 1)
            reason = (
                ("arc_resync" if found else "arc_unparseable_rest") if match is None else "record_too_large"
            )
            stats.error(reason, source_offset=unit.start + pos)
            pos = stream.base + found.start() if found else stream.end
            continue
        url, _ip, date, _mime, length = (g.decode("latin-1") for g in match.groups())
        block_start = stream.base + match.end()
        stream.fill(block_start + int(length))
        block = bytes(stream.buf[match.end() : match.end() + int(length)])
        offset, pos = pos, block_start + int(length)
        stats.records += 1
        source = f"{name}:{offset}"
        where = {"source_offset": unit.start + offset, "id": source, "url": url}
        if url.startswith("filedesc://"):
            stats.skip("skipped_filedesc", **where, record_type="filedesc")
            continue
        fields = _http_fields(block, stats, **where)
        if fields is None:
            continue
        rows.add(source, url, _arc_date(date), source, fields)
        if (table := rows.take(batch_rows)) is not None:
            yield table
    if (table := rows.take(1)) is not None:
        yield table
