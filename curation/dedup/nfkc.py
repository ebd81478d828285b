"""NFKC normalisation and lower case of a batch of texts, touching in Python only the pieces NFKC can change.

NFKC never acts across the boundary before a *stable* code point (canonical combining class 0, and quick-check
"Yes": it is its own NFKC form and never composes with a preceding one), so NFKC(a + b) = NFKC(a) + NFKC(b)
when `b` starts with one. A compiled scan cuts each text into chunks that start at stable code points and runs
the Unicode quick check on each (all code points "Yes", combining classes in canonical order: then the chunk
is already NFKC); only the other chunks go through `unicodedata.normalize`. The tables cover the BMP; a code
point above U+FFFF always sends its chunk to Python.
"""

from __future__ import annotations

import functools
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from curation.dedup.text_input import string_buffers

_HANGUL_VOWELS_AND_TRAILS = [(0x1161, 0x1176), (0x11A8, 0x11C3)]  # compose with a preceding syllable
NOT_YES = -1


@functools.cache
def quick_check_classes() -> np.ndarray:
    """(65536,) int16 per BMP code point: its canonical combining class where its NFKC quick check is "Yes",
    else `NOT_YES` (built once per process from `unicodedata`, ~0.1 s)."""
    second = set()  # code points that may compose with a preceding one: second halves of canonical pairs
    for cp in range(0x10000):
        parts = unicodedata.decomposition(chr(cp)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            second.add(int(parts[1], 16))
    classes = np.array(
        [
            unicodedata.combining(ch) if unicodedata.normalize("NFKC", ch) == ch else NOT_YES
            for ch in map(chr, range(0x10000))
        ],
        dtype=np.int16,
    )
    classes[list(second)] = NOT_YES
    for lo, hi in _HANGUL_VOWELS_AND_TRAILS:
        classes[lo:hi] = NOT_YES
    classes[0xD800:0xE000] = NOT_YES  # surrogates (never in valid UTF-8)
    return classes


@njit(cache=True, nogil=True)
def _unsettled_chunks(
    data: np.ndarray, offsets: np.ndarray, classes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) byte spans of the chunks that fail the quick check, in UTF-8 documents
    `data[offsets[d]:offsets[d + 1]]`; a chunk runs from a stable code point (or a document start) to the next."""
    cap = data.shape[0] // 2 + 1  # a failing chunk holds a non-ASCII code point: at least two bytes
    starts = np.empty(cap, dtype=np.int64)
    ends = np.empty(cap, dtype=np.int64)
    k = 0
    for d in range(offsets.shape[0] - 1):
        end = offsets[d + 1]
        chunk, last_class, failed = offsets[d], 0, False
        p = offsets[d]
        while p < end:
            if data[p] < 0x80:  # ASCII is stable: close the chunk, then skip to the run's last byte
                if failed:
                    starts[k], ends[k] = chunk, p
                    k += 1
                while p + 1 < end and data[p + 1] < 0x80:
                    p += 1
                chunk, last_class, failed = p, 0, False
                p += 1
                continue
            if data[p] < 0xE0:
                width = 2
                klass = classes[(np.int64(data[p]) & 0x1F) << 6 | (np.int64(data[p + 1]) & 0x3F)]
            elif data[p] < 0xF0:
                width = 3
                cp = (np.int64(data[p]) & 0x0F) << 12 | (np.int64(data[p + 1]) & 0x3F) << 6
                klass = classes[cp | (np.int64(data[p + 2]) & 0x3F)]
            else:
                width, klass = 4, NOT_YES  # above the BMP
            if klass == 0:  # stable: a new chunk begins
                if failed:
                    starts[k], ends[k] = chunk, p
                    k += 1
                chunk, last_class, failed = p, 0, False
            else:
                failed |= klass == NOT_YES or klass < last_class
                last_class = klass
            p += width
        if failed:
            starts[k], ends[k] = chunk, end
            k += 1
    return starts[:k].copy(), ends[:k].copy()


@njit(cache=True, nogil=True)
def _splice(
    data: np.ndarray,
    offsets: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    pieces: np.ndarray,
    lengths: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(data, offsets) with each span [starts[i], ends[i]) (ascending, each inside one document) replaced by the
    next `lengths[i]` bytes of `pieces`."""
    out = np.empty(data.shape[0] + pieces.shape[0] - (ends - starts).sum(), dtype=np.uint8)
    new_offsets = np.empty_like(offsets)
    read = write = taken = span = 0
    for d in range(offsets.shape[0]):
        while span < starts.shape[0] and starts[span] < offsets[d]:  # spans before this document boundary
            n = starts[span] - read
            out[write : write + n] = data[read : starts[span]]
            out[write + n : write + n + lengths[span]] = pieces[taken : taken + lengths[span]]
            write, taken, read = write + n + lengths[span], taken + lengths[span], ends[span]
            span += 1
        new_offsets[d] = write + offsets[d] - read
    out[write:] = data[read:]
    return out, new_offsets


@functools.lru_cache(maxsize=1 << 16)
def _nfkc(segment: bytes) -> bytes:
    return unicodedata.normalize("NFKC", segment.decode()).encode()


def nfkc_lower(texts: pa.Array) -> pa.Array:
    """NFKC-normalised, lower-cased large_string array; nulls become empty strings."""
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    offsets, data = string_buffers(texts)
    starts, ends = _unsettled_chunks(data, offsets, quick_check_classes())
    if len(starts):
        raw = data.tobytes()
        normalised = [_nfkc(raw[lo:hi]) for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True)]
        lengths = np.fromiter(map(len, normalised), dtype=np.int64, count=len(normalised))
        pieces = np.frombuffer(b"".join(normalised), dtype=np.uint8)
        data, offsets = _splice(data, offsets, starts, ends, pieces, lengths)
        texts = pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(offsets), pa.py_buffer(data))
    return pc.utf8_lower(texts)
