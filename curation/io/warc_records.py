"""WARC record framing that reads on after damage.

Records are read from a `ByteStream` by their `Content-Length`, and a length is trusted only when the record
ends where the next one (or the data) begins: otherwise the record is an error and reading resumes at the next
`WARC/` version line, found by scanning, as robust WARC readers do. A bad version line, a header without a
usable length, an oversized header or block, a record cut short and a broken gzip member each cost one counted
error (`Broken`), never the records after them. LF-only line endings are accepted, also in a file rewritten
with them, whose lengths still count the lost CRs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from curation.io.byte_stream import OUT_CHUNK, ByteStream

MAX_HEADER_BYTES = 256 << 10  # a WARC header block larger than this is hostile: counted, skipped
MAX_BLOCK_BYTES = 64 << 20  # the decompressed-bytes cap of one record
VERSIONS = (b"WARC/1.0", b"WARC/1.1", b"WARC/0.17", b"WARC/0.18")
_VERSION_LINE = re.compile(rb"\n(WARC/\d+\.\d+)\r?\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_SPACE = b" \t\r\n\x00"
MAX_PADDING_BYTES = 64 << 10  # more blank bytes than this between records is counted as junk


@dataclass(frozen=True)
class Record:
    offset: int  # in the range: the record's gzip member, or the record itself when uncompressed
    headers: dict[str, str]  # names as written
    block: bytes


@dataclass(frozen=True)
class Broken:
    offset: int
    reason: str


def _header_value(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _parse_header(raw: bytes) -> tuple[bytes, dict[str, str]]:
    lines = raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    headers: dict[str, str] = {}
    last = None
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and last is not None:
            headers[last] += " " + line.strip()  # a folded continuation line
            continue
        name, sep, value = line.partition(":")
        if sep:
            last = name.strip()
            if last in headers:
                last = None  # the first of repeated headers counts
            else:
                headers[last] = value.strip()
    return lines[0].strip().encode(), headers


class WarcFramer:
    """Yields `Record`s and `Broken` parts of one stream, in order."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.pos = 0

    def _skip_space(self) -> tuple[int, bool]:
        """Move past padding: (bytes skipped, whether something follows in what the stream holds)."""
        stream = self.stream
        skipped = 0
        while stream.fill(self.pos + 1):
            rest = stream.take(self.pos, min(stream.end, self.pos + (64 << 10)))
            pad = len(rest) - len(rest.lstrip(_SPACE))
            skipped += pad
            self.pos += pad
            stream.release(self.pos)
            if pad < len(rest):
                return skipped, True
        return skipped, False

    def _resync(self, start: int) -> None:
        """Move to the next version line at or after `start` (or to the end of the good data)."""
        stream = self.stream
        scan = start
        while True:
            rel = scan - stream.base
            found = _VERSION_LINE.search(stream.buf, max(rel - 1, 0))
            if found:
                self.pos = stream.base + found.start(1)
                return
            scan = max(stream.end - 16, scan)  # a version line may straddle the chunk boundary
            stream.release(scan)
            if not stream.fill(stream.end + OUT_CHUNK) and stream.end <= scan + 16:
                self.pos = stream.end
                return

    def __iter__(self) -> Iterator[Record | Broken]:
        stream = self.stream
        while True:
            skipped, more = self._skip_space()
            if skipped > MAX_PADDING_BYTES:
                yield Broken(stream.origin(self.pos), "padding_between_records")
            if not more:
                if stream.damage is None:
                    return
                yield Broken(stream.origin(self.pos), stream.damage)
                if not stream.recover():
                    return
                self.pos = stream.base
                continue
            yield from self._one()

    def _one(self) -> Iterator[Record | Broken]:
        stream, start = self.stream, self.pos
        offset = stream.origin(start)
        stream.fill(start + 5)
        if not stream.buf.startswith(b"WARC/", start - stream.base):
            yield Broken(offset, "bad_version_line")
            self._resync(start + 1)
            return
        header_end = self._find_header_end(start)
        if header_end is None:
            if stream.damage is None and stream.end - start < MAX_HEADER_BYTES:
                yield Broken(offset, "truncated_record")
                self.pos = stream.end
            else:
                if stream.damage is None:
                    yield Broken(offset, "oversized_header")
                self._resync(start + 1)
            return
        head_stop, block_start = header_end
        version, headers = _parse_header(stream.take(start, head_stop))
        if version not in VERSIONS:
            yield Broken(offset, "unknown_version")
            self._resync(block_start)
            return
        length_text = _header_value(headers, "Content-Length") or ""
        if not length_text.strip().isdigit():
            yield Broken(offset, "bad_content_length")
            self._resync(block_start)
            return
        length = int(length_text)
        if length > MAX_BLOCK_BYTES:
            yield Broken(offset, "record_too_large")
            self._resync(block_start)
            return
        block_end = block_start + length
        lf_only = b"\r" not in stream.buf[start - stream.base : block_start - stream.base]
        if lf_only and not (stream.fill(block_end) and self._ends_cleanly(block_end)):
            salvaged = self._lf_block(block_start, length)
            if salvaged is not None:
                yield Record(offset, headers, salvaged)
                return
        if not stream.fill(block_end):
            if _VERSION_LINE.search(stream.buf, block_start - stream.base):  # the length overruns a record
                yield Broken(offset, "length_mismatch")
                self._resync(block_start)
            elif stream.damage is None:  # the data ends inside the block: a cut-off record
                yield Broken(offset, "truncated_record")
                self.pos = stream.end
            else:
                self.pos = stream.end  # the broken member is reported (once) at the end of the good data
            return
        if not self._ends_cleanly(block_end):
            yield Broken(offset, "length_mismatch")
            self._resync(block_start)
            return
        block = stream.take(block_start, block_end)
        self.pos = block_end
        yield Record(offset, headers, block)

    def _lf_block(self, block_start: int, length: int) -> bytes | None:
        """The block of an LF-only record whose length counts the CRs its line endings lost (a file rewritten
        with LF line endings): it ends where the next version line (or the data) begins, and the length
        overshoots by no more than its line count. None when that does not fit."""
        stream = self.stream
        found = _VERSION_LINE.search(stream.buf, block_start - stream.base)
        if found is None and stream.damage is not None:
            return None
        end = stream.base + found.start() + 1 if found else stream.end  # after the newline ending the block
        block = stream.take(block_start, end).removesuffix(b"\n\n")
        if not 0 < length - len(block) <= block.count(b"\n"):
            return None
        self.pos = end
        return block

    def _find_header_end(self, start: int) -> tuple[int, int] | None:
        """(end of the header lines, start of the block), or None when no header end is found in the cap."""
        stream = self.stream
        want = start + 4096
        while True:
            stream.fill(want)
            found = _HEADER_END.search(stream.buf, start - stream.base, min(want, stream.end) - stream.base)
            if found:
                return stream.base + found.start(), stream.base + found.end()
            if stream.end < want or want - start >= MAX_HEADER_BYTES:
                return None
            want = min(start + MAX_HEADER_BYTES, want * 2 - start)

    def _ends_cleanly(self, block_end: int) -> bool:
        """Whether the block is followed by its end marker, or by padding and a version line (or the end)."""
        stream = self.stream
        stream.fill(block_end + 64)
        after = stream.take(block_end, block_end + 64)
        if after.startswith((b"\r\n\r\n", b"\n\n")):  # the record's own end marker
            return True
        rest = after.lstrip(_SPACE)
        return not rest or rest.startswith(b"WARC/") or (len(rest) < 5 and b"WARC/".startswith(rest))
