"""The bytes of a WARC byte range, inflated gzip member by gzip member, with damage reported instead of raised.

A corrupt or truncated gzip member stops the stream at the damage (`damage` says why); `recover()` then moves
on to the next gzip member after the damaged one, so one broken member costs that member, not the rest of the
range. Output is produced in bounded chunks, so a gzip bomb never inflates further than the reader asks.
"""

from __future__ import annotations

import bisect
import re
import zlib

from curation.io.units import GZIP_MAGIC

IN_CHUNK = 64 << 10  # compressed bytes fed to zlib per call
OUT_CHUNK = 4 << 20  # most bytes one call inflates (bounds a bomb's step)
_MEMBER_START = re.compile(re.escape(GZIP_MAGIC + b"\x08"))


class ByteStream:
    """Decompressed (or plain) bytes of `data` with absolute positions; `buf[pos - base]` is byte `pos`."""

    def __init__(self, data: bytes, gzipped: bool) -> None:
        self._data = memoryview(data)
        self.gzipped = gzipped
        self.buf = bytearray() if gzipped else bytearray(data)
        self.base = 0  # absolute position of buf[0]
        self._cpos = 0  # compressed bytes consumed
        self._inflater: zlib._Decompress | None = None
        self._member_start = 0
        self._members: list[tuple[int, int]] = []  # (absolute output position, compressed offset) per member
        self.damage: str | None = None  # why the stream stopped before the end of the data
        self.done = not gzipped  # nothing left to inflate (end of data, or damage)

    @property
    def end(self) -> int:
        """Absolute position one past the last byte available now."""
        return self.base + len(self.buf)

    def origin(self, pos: int) -> int:
        """Offset in the range of what holds byte `pos`: its gzip member, or the byte itself when plain."""
        if not self.gzipped:
            return pos
        i = bisect.bisect_right(self._members, (pos, float("inf"))) - 1
        return self._members[max(i, 0)][1] if self._members else 0

    def take(self, start: int, stop: int) -> bytes:
        """A copy of the bytes at absolute positions [start, stop) (clipped to what is available)."""
        with memoryview(self.buf) as view:
            return bytes(view[max(start - self.base, 0) : max(stop - self.base, 0)])

    def release(self, pos: int) -> None:
        """Forget bytes before `pos` (they have been parsed)."""
        cut = min(pos, self.end) - self.base
        if self.gzipped and cut > (1 << 20):  # plain data is held whole anyway
            del self.buf[:cut]
            self.base += cut

    def fill(self, pos: int) -> bool:
        """Make bytes up to `pos` available if the data holds them; False when it stops first."""
        while self.end < pos and not self.done:
            self._inflate_some()
        return self.end >= pos

    def _inflate_some(self) -> None:
        data = self._data
        if self._inflater is None:
            while self._cpos < len(data) and data[self._cpos] in b"\r\n\x00 ":
                self._cpos += 1  # padding between members
            if self._cpos >= len(data):
                self.done = True
                return
            if bytes(data[self._cpos : self._cpos + 2]) != GZIP_MAGIC:
                self._member_start = self._cpos
                self._stop("not_gzip_member")
                return
            self._inflater = zlib.decompressobj(wbits=31)
            self._member_start = self._cpos
            self._members.append((self.end, self._cpos))
        chunk = data[self._cpos : self._cpos + IN_CHUNK]
        inflater = self._inflater
        try:
            out = inflater.decompress(chunk, OUT_CHUNK)
        except zlib.error:
            self._stop("corrupt_gzip")
            return
        # at the end of a member zlib leaves what follows in unused_data (and may repeat it in unconsumed_tail)
        self._cpos += len(chunk) - len(inflater.unused_data if inflater.eof else inflater.unconsumed_tail)
        self.buf += out
        if inflater.eof:
            self._inflater = None
        elif self._cpos >= len(data) and not out and not inflater.unconsumed_tail:
            self._stop("truncated_stream")

    def _stop(self, reason: str) -> None:
        self.damage = reason
        self.done = True

    def recover(self) -> bool:
        """After damage: drop what is buffered and continue at the next gzip member; False when there is none."""
        self.damage, self._inflater = None, None
        self.base, self.buf = self.end, bytearray()
        found = _MEMBER_START.search(self._data, self._member_start + 1)
        while found and not self._is_member(found.start()):
            found = _MEMBER_START.search(self._data, found.start() + 1)
        if not found:
            self.done = True
            return False
        self._cpos = self._member_start = found.start()
        self.done = False
        return True

    def _is_member(self, offset: int) -> bool:
        """Whether a gzip member that inflates cleanly starts at `offset` (its first bytes are checked)."""
        probe = zlib.decompressobj(wbits=31)
        try:
            probe.decompress(self._data[offset : offset + 4096], 64)
        except zlib.error:
            return False
        return True
