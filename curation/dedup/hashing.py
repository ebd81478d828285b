"""64-bit hashing primitives (wrapping uint64 arithmetic): a mixer (numpy) and byte-span hashing."""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 that spreads every input bit over the output."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64, copy=True)
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return x


def span_hashes(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """64-bit hash of each byte span `buf[starts[i]:ends[i]]`, all spans at once.

    A polynomial hash (`span_sums`: position-independent, so equal byte strings hash equally wherever they are),
    finalised with `mix64` together with the span length.
    """
    # imported here so that processes which only mix keys (the shuffles) do not load numba
    from curation.dedup.polynomial import span_sums

    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint64)
    raw = span_sums(buf, starts, ends)
    with np.errstate(over="ignore"):
        return mix64(raw ^ ((np.asarray(ends) - np.asarray(starts)).astype(np.uint64) * _M2))
