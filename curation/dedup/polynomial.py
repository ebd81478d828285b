"""Polynomial sums of byte spans (compiled with numba): the position-independent core of `span_hashes`."""

from __future__ import annotations

import numpy as np
from numba import njit

_RADIX = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
_RADIX_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))
_RADIX_INV2 = np.uint64(pow(0x100000001B3, -2, 1 << 64))

_POWERS: dict[int, np.ndarray] = {}


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """base**0 .. base**(n-1) modulo 2**64 (cached per process, grown by doubling)."""
    cached = _POWERS.get(int(base))
    if cached is None or len(cached) < n:
        size = max(n, 2 * len(cached) if cached is not None else 1 << 16)
        cached = np.full(size, base, dtype=np.uint64)
        cached[0] = 1
        with np.errstate(over="ignore"):
            cached = np.cumprod(cached, dtype=np.uint64)
        _POWERS[int(base)] = cached
    return cached[:n]


@njit(cache=True, nogil=True)
def _sums(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, powers: np.ndarray) -> np.ndarray:
    n = buf.shape[0]
    q = np.empty(n + 1, dtype=np.uint64)
    q[0] = 0
    for i in range(0, n - 1, 2):  # two bytes a step: halves the chain of dependent multiplications
        c0, c1 = np.uint64(buf[i]) + np.uint64(1), np.uint64(buf[i + 1]) + np.uint64(1)
        q[i + 1] = (q[i] + c0) * _RADIX_INV
        q[i + 2] = (q[i] + c0) * _RADIX_INV2 + c1 * _RADIX_INV
    if n % 2:
        q[n] = (q[n - 1] + np.uint64(buf[n - 1]) + np.uint64(1)) * _RADIX_INV
    out = np.empty(starts.shape[0], dtype=np.uint64)
    for i in range(starts.shape[0]):
        out[i] = powers[ends[i] - starts[i]] * q[ends[i]] - q[starts[i]]
    return out


def span_sums(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """sum((buf[j] + 1) * RADIX**(j - s) for j in [s, e)) modulo 2**64 of each span [s, e) of the uint8 `buf`.

    With q[i] = sum((buf[j] + 1) * RADIX**(j - i) for j < i), built in one pass as q[i + 1] = (q[i] + buf[i] + 1)
    / RADIX, a span's sum is RADIX**(e - s) * q[e] - q[s].
    """
    return _sums(
        np.ascontiguousarray(buf, dtype=np.uint8),
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(ends, dtype=np.int64),
        _powers(_RADIX, int((np.asarray(ends) - np.asarray(starts)).max(initial=0)) + 1),
    )
