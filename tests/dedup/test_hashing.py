"""Span hashing and the 64-bit mixer, checked against plain Python integer arithmetic."""

from __future__ import annotations

import numpy as np

from curation.dedup.hashing import span_hashes
from curation.stagekit.hashing import mix64

MASK = (1 << 64) - 1
RADIX = 0x100000001B3


def _mix(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def _span_hash(data: bytes) -> int:
    raw = sum((byte + 1) * pow(RADIX, j, 1 << 64) for j, byte in enumerate(data)) & MASK
    return _mix(raw ^ ((len(data) * 0x94D049BB133111EB) & MASK))


def test_span_hashes_equal_python_integers_for_every_span_shape():
    rng = np.random.default_rng(0)
    for size in (1, 2, 257, 1000):  # odd and even buffer lengths: the prefix pass takes two bytes a step
        buf = rng.integers(0, 256, size, dtype=np.uint8)
        starts = np.concatenate(([0, 0, size - 1, size], rng.integers(0, size, 200)))
        ends = np.minimum(starts + np.concatenate(([size, 0, 1, 0], rng.integers(0, 80, 200))), size)
        data = buf.tobytes()
        assert span_hashes(buf, starts, ends).tolist() == [
            _span_hash(data[s:e]) for s, e in zip(starts.tolist(), ends.tolist(), strict=True)
        ]
    assert span_hashes(buf, starts[:0], ends[:0]).shape == (0,)


def test_span_hashes_depend_on_content_not_position():
    buf = np.frombuffer(b"abc xyz abc", np.uint8)
    h = span_hashes(buf, np.array([0, 8, 4]), np.array([3, 11, 7]))
    assert h[0] == h[1] != h[2]


def test_mix64_equals_python_integers_and_keeps_the_shape():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 1 << 64, (7, 5), dtype=np.uint64, endpoint=False)
    out = mix64(x[:, ::2])  # a strided view
    assert out.shape == (7, 3)
    assert out.tolist() == [[_mix(v) for v in row] for row in x[:, ::2].tolist()]
    assert mix64(np.arange(3, dtype=np.int64)).tolist() == [_mix(v) for v in range(3)]
