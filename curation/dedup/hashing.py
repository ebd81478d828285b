"""Byte-span hashing (wrapping uint64 arithmetic), finalised with the kit's `mix64`."""

from __future__ import annotations

import numpy as np

from curation.stagekit.hashing import mix64

_M2 = np.uint64(0x94D049BB133111EB)  # the length multiplier of `span_hashes`


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
