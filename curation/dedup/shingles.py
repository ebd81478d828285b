"""Shingles of a batch of documents as 64-bit hashes: word n-grams or character n-grams, all docs at once.

Normalisation: NFKC (only where a text is not already NFKC), lower case, and every run of ASCII characters
that are not letters (digits, punctuation, whitespace) becomes one space; non-ASCII characters are kept as
word characters. The batch becomes one byte buffer, every n-gram a byte span of it, hashed by `span_hashes`.
A document with at least one token but fewer than `n` becomes a single shingle (its whole normalised text);
a document without tokens (empty, only digits/punctuation) has no shingles.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.dedup.hashing import span_hashes

_SPACE = 32


@dataclass(frozen=True)
class Shingles:
    """`hashes[i]` belongs to document `doc[i]` (ascending); `short[d]` marks documents shorter than n."""

    hashes: np.ndarray  # uint64
    doc: np.ndarray  # int64, sorted
    short: np.ndarray  # bool, one per document
    count: np.ndarray  # int64 shingles per document


def _nfkc_lower(texts: pa.Array) -> pa.Array:
    texts = pc.fill_null(texts.cast(pa.large_string()), "")
    ascii_ = pc.string_is_ascii(texts).to_numpy(zero_copy_only=False)
    if not ascii_.all():
        values = texts.to_pylist()
        for i in np.flatnonzero(~ascii_):
            if not unicodedata.is_normalized("NFKC", values[i]):
                values[i] = unicodedata.normalize("NFKC", values[i])
        texts = pa.array(values, pa.large_string())
    return pc.utf8_lower(texts)


def normalized_bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, document index of each byte) of the normalised batch; documents are separated by a space."""
    lowered = _nfkc_lower(texts)
    offsets = np.frombuffer(lowered.buffers()[1], dtype=np.int64)[
        lowered.offset : lowered.offset + len(lowered) + 1
    ]
    raw = (
        np.frombuffer(lowered.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        if offsets[-1]
        else np.zeros(0, np.uint8)
    )
    doc = np.repeat(np.arange(len(lowered), dtype=np.int64), np.diff(offsets))
    word = (raw >= 0x80) | ((raw >= ord("a")) & (raw <= ord("z")))
    # keep word bytes and the first byte of each non-word run after a word (as a space) ...
    keep = word | np.concatenate(([False], word[:-1] & (doc[:-1] == doc[1:])))
    buf, doc = np.where(word, raw, np.uint8(_SPACE))[keep], doc[keep]
    # ... then drop the spaces that end a document
    trailing = (buf == _SPACE) & (np.concatenate((doc[1:], [-1])) != doc)
    return buf[~trailing], doc[~trailing]


def _token_bounds(buf: np.ndarray, doc: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of each token: words are runs of non-space bytes, characters are UTF-8 code points."""
    if mode == "word":
        inside = buf != _SPACE
        cut = np.concatenate(([True], doc[1:] != doc[:-1], [True]))
        padded = np.concatenate(([False], inside, [False]))
        begins = padded[1:] & (~padded[:-1] | cut)
        finishes = padded[:-1] & (~padded[1:] | cut)
        return np.flatnonzero(begins), np.flatnonzero(finishes)
    lead = (buf & 0xC0) != 0x80
    starts = np.flatnonzero(lead)
    return starts, np.concatenate((starts[1:], [len(buf)]))


def shingle_hashes(texts: pa.Array, n: int, mode: str = "word") -> Shingles:
    """Hashes of every `n`-gram (of words, or of characters with `mode="char"`) of every text."""
    if mode not in ("word", "char"):
        raise ValueError(f"shingle mode must be 'word' or 'char', got {mode!r}")
    num_docs = len(texts)
    buf, byte_doc = normalized_bytes(texts)
    tok_start, tok_end = _token_bounds(buf, byte_doc, mode)
    tok_doc = byte_doc[tok_start]
    per_doc = np.bincount(tok_doc, minlength=num_docs).astype(np.int64)
    first_tok = np.concatenate(([0], np.cumsum(per_doc)[:-1])).astype(np.int64)
    j = np.arange(max(len(tok_start) - n + 1, 0), dtype=np.int64)
    full = j[tok_doc[j] == tok_doc[j + n - 1]]  # n-grams that stay inside one document
    short_docs = np.flatnonzero((per_doc > 0) & (per_doc < n))
    span_start = np.concatenate((tok_start[full], tok_start[first_tok[short_docs]]))
    span_end = np.concatenate(
        (tok_end[full + n - 1], tok_end[first_tok[short_docs] + per_doc[short_docs] - 1])
    )
    span_doc = np.concatenate((tok_doc[full], short_docs))
    order = np.argsort(span_doc, kind="stable")
    short = np.zeros(num_docs, dtype=bool)
    short[short_docs] = True
    return Shingles(
        hashes=span_hashes(buf, span_start[order], span_end[order]),
        doc=span_doc[order],
        short=short,
        count=np.bincount(span_doc, minlength=num_docs).astype(np.int64),
    )
