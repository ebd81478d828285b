"""Vectorised 64-bit hashing primitives (numpy, wrapping uint64 arithmetic): a mixer and byte-span hashing."""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_RADIX = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
_RADIX_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))


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


def span_hashes(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """64-bit hash of each byte span `buf[starts[i]:ends[i]]`, all spans at once.

    A polynomial hash over prefix sums (position-independent: equal byte strings hash equally wherever they
    are), finalised with `mix64` together with the span length.
    """
    if len(starts) == 0:
        return np.zeros(0, dtype=np.uint64)
    n = len(buf) + 1
    with np.errstate(over="ignore"):
        prefix = np.zeros(n, dtype=np.uint64)
        np.cumsum((buf.astype(np.uint64) + np.uint64(1)) * _powers(_RADIX, n)[:-1], out=prefix[1:])
        raw = (prefix[ends] - prefix[starts]) * _powers(_RADIX_INV, n)[starts]
        lengths = (ends - starts).astype(np.uint64)
        return mix64(raw ^ (lengths * _M2))
