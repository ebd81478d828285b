"""Shingles of a batch of documents as 64-bit hashes: word n-grams or character n-grams, all docs at once.

Normalisation: NFKC and lower case (`nfkc_lower`), then every run of ASCII characters that are not letters
(digits, punctuation, whitespace) becomes one space; non-ASCII characters are kept as word characters. The batch
becomes one byte buffer, every n-gram a byte span of it, hashed by `span_hashes`; compiled (numba) loops do the
byte work.
A document with at least one token but fewer than `n` becomes a single shingle (its whole normalised text);
a document without tokens (empty, only digits/punctuation) has no shingles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

from curation.dedup.hashing import span_hashes
from curation.dedup.nfkc import nfkc_lower
from curation.dedup.text_input import string_buffers

_SPACE = 32


@dataclass(frozen=True)
class Shingles:
    """`hashes[i]` belongs to document `doc[i]` (ascending); `short[d]` marks documents shorter than n."""

    hashes: np.ndarray  # uint64
    doc: np.ndarray  # int64, sorted
    short: np.ndarray  # bool, one per document
    count: np.ndarray  # int64 shingles per document


@njit(cache=True, nogil=True)
def _normalise(raw: np.ndarray, offsets: np.ndarray, chars: bool) -> tuple[np.ndarray, ...]:
    """(buffer, document bounds in it, token starts, document bounds in those) of lower-cased text.

    Document d is `raw[offsets[d]:offsets[d + 1]]`. In the buffer every run of ASCII non-letters that follows a
    letter becomes one space, other runs disappear. Tokens are the runs between spaces (`chars`: the UTF-8 code
    points, spaces included).
    """
    num_docs = offsets.shape[0] - 1
    buf = np.empty(raw.shape[0], dtype=np.uint8)
    tok_start = np.empty(raw.shape[0] + 1, dtype=np.int64)
    doc_bounds = np.zeros(num_docs + 1, dtype=np.int64)
    tok_bounds = np.zeros(num_docs + 1, dtype=np.int64)
    size = 0
    tokens = 0
    for d in range(num_docs):
        word = False
        for p in range(offsets[d], offsets[d + 1]):  # branch-free: writes every byte, advances on kept ones
            c = raw[p]
            is_word = (c >= 0x80) | ((c >= 0x61) & (c <= 0x7A))
            out = c if is_word else np.uint8(_SPACE)
            buf[size] = out
            tok_start[tokens] = size
            tokens += ((out & 0xC0) != 0x80) & (is_word | word) if chars else is_word & (not word)
            size += is_word | word
            word = is_word
        if size > doc_bounds[d] and buf[size - 1] == _SPACE:  # no trailing space
            size -= 1
            tokens -= chars
        doc_bounds[d + 1] = size
        tok_bounds[d + 1] = tokens
    return buf[:size], doc_bounds, tok_start[:tokens], tok_bounds


@njit(cache=True, nogil=True)
def _spans(
    doc_bounds: np.ndarray, tok_start: np.ndarray, tok_bounds: np.ndarray, n: int, chars: bool
) -> tuple[np.ndarray, ...]:
    """(starts, ends, document, count per document, short documents) of the shingles: the byte spans of `n`
    consecutive tokens of a document, or of all of its tokens when it has fewer."""
    num_docs = doc_bounds.shape[0] - 1
    gap = 0 if chars else 1  # bytes between a token's end and the next one's start
    count = np.empty(num_docs, dtype=np.int64)
    for d in range(num_docs):
        tokens = tok_bounds[d + 1] - tok_bounds[d]
        count[d] = tokens - n + 1 if tokens >= n else min(tokens, 1)
    total = count.sum()
    starts = np.empty(total, dtype=np.int64)
    ends = np.empty(total, dtype=np.int64)
    docs = np.empty(total, dtype=np.int64)
    short = np.zeros(num_docs, dtype=np.bool_)
    k = 0
    for d in range(num_docs):
        first, last = tok_bounds[d], tok_bounds[d + 1]  # tokens [first, last)
        if 0 < last - first < n:
            starts[k], ends[k], docs[k] = doc_bounds[d], doc_bounds[d + 1], d
            short[d] = True
            k += 1
        for t in range(first, last - n + 1):
            starts[k] = tok_start[t]
            ends[k] = tok_start[t + n] - gap if t + n < last else doc_bounds[d + 1]
            docs[k] = d
            k += 1
    return starts, ends, docs, count, short


def shingle_hashes(texts: pa.Array, n: int, mode: str = "word") -> Shingles:
    """Hashes of every `n`-gram (of words, or of characters with `mode="char"`) of every text."""
    if mode not in ("word", "char"):
        raise ValueError(f"shingle mode must be 'word' or 'char', got {mode!r}")
    offsets, raw = string_buffers(nfkc_lower(texts))
    buf, doc_bounds, tok_start, tok_bounds = _normalise(raw, offsets, mode == "char")
    starts, ends, doc, count, short = _spans(doc_bounds, tok_start, tok_bounds, n, mode == "char")
    return Shingles(hashes=span_hashes(buf, starts, ends), doc=doc, short=short, count=count)
