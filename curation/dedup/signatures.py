"""MinHash signatures and LSH band keys over all shingles of a batch.

Permutation k maps a 64-bit shingle hash x to `a_k * x + b_k (mod 2**64)` with odd `a_k`, a bijection; a
signature holds the minimum over the document's shingles for each permutation. A compiled (numba) loop runs over
the shingles, its inner loop over the contiguous permutations, which the compiler vectorises.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from curation.stagekit.hashing import mix64

EMPTY = np.iinfo(np.uint64).max


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of `num_perm` permutations; `a` is odd so each is a bijection of uint64."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64, endpoint=True)
    return a, b


@njit(cache=True, nogil=True)
def _minimise(hashes: np.ndarray, bounds: np.ndarray, a: np.ndarray, b: np.ndarray, sig: np.ndarray) -> None:
    """sig[d, k] = min(a[k] * x + b[k] for x in hashes[bounds[d]:bounds[d + 1]]) for documents with shingles.

    Four shingles per pass over the permutations: fewer loads and stores of the running minimum per product.
    """
    acc = np.empty(a.shape[0], dtype=np.uint64)
    for d in range(bounds.shape[0] - 1):
        lo, hi = bounds[d], bounds[d + 1]
        if lo == hi:
            continue
        acc[:] = EMPTY
        quads = lo + (hi - lo) // 4 * 4
        for i in range(lo, quads, 4):
            x0, x1, x2, x3 = hashes[i], hashes[i + 1], hashes[i + 2], hashes[i + 3]
            for k in range(a.shape[0]):
                ak, bk = a[k], b[k]
                acc[k] = min(acc[k], min(min(ak * x0 + bk, ak * x1 + bk), min(ak * x2 + bk, ak * x3 + bk)))
        for i in range(quads, hi):
            for k in range(a.shape[0]):
                acc[k] = min(acc[k], a[k] * hashes[i] + b[k])
        sig[d] = acc


def minhash(
    hashes: np.ndarray, doc: np.ndarray, num_docs: int, perms: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """(num_docs, num_perm) uint64 signatures; `doc` (sorted) assigns each shingle hash to its document.

    Documents without shingles keep the all-`EMPTY` signature.
    """
    a, b = (np.ascontiguousarray(p, dtype=np.uint64) for p in perms)
    sig = np.full((num_docs, len(a)), EMPTY, dtype=np.uint64)
    bounds = np.searchsorted(doc, np.arange(num_docs + 1)).astype(np.int64)
    _minimise(np.ascontiguousarray(hashes, dtype=np.uint64), bounds, a, b, sig)
    return sig


def band_keys(sig: np.ndarray, bands: int, rows: int, salt: np.ndarray | None = None) -> np.ndarray:
    """(num_docs, bands) uint64 keys: band i hashes signature columns [i*rows, (i+1)*rows) with its index.

    `salt` (one uint64 per document, e.g. a hash of the dump) is folded in so that keys never match across salts.
    """
    n = sig.shape[0]
    cols = sig[:, : bands * rows].reshape(n, bands, rows)
    with np.errstate(over="ignore"):
        key = mix64(np.arange(1, bands + 1, dtype=np.uint64))[None, :].repeat(n, axis=0)
        if salt is not None:
            key = mix64(key ^ salt[:, None])
        for r in range(rows):
            key = mix64(key * np.uint64(0x9E3779B97F4A7C15) + cols[:, :, r])
    return key


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Fraction of equal signature values per row pair: an unbiased estimate of the Jaccard similarity."""
    return (sig_a == sig_b).mean(axis=1)
