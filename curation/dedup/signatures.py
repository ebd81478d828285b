"""MinHash signatures and LSH band keys, vectorised over all shingles of a batch.

Permutation k maps a 64-bit shingle hash x to `a_k * x + b_k (mod 2**64)` with odd `a_k`, a bijection; a
signature holds the minimum over the document's shingles for each permutation. The work runs as numpy
operations over (shingles x permutations) blocks of bounded size; there is no Python loop over documents.
"""

from __future__ import annotations

import numpy as np

from curation.dedup.hashing import mix64

BLOCK_ELEMENTS = 1 << 16  # uint64 cells per (permutations x shingles) block: 512 KiB, cache-sized
EMPTY = np.iinfo(np.uint64).max


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of `num_perm` permutations; `a` is odd so each is a bijection of uint64."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = rng.integers(0, np.iinfo(np.uint64).max, size=num_perm, dtype=np.uint64, endpoint=True)
    return a, b


def minhash(
    hashes: np.ndarray, doc: np.ndarray, num_docs: int, perms: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """(num_docs, num_perm) uint64 signatures; `doc` (sorted) assigns each shingle hash to its document.

    Documents without shingles keep the all-`EMPTY` signature.
    """
    a, b = perms
    sig = np.full((num_docs, len(a)), EMPTY, dtype=np.uint64)
    step = max(1, BLOCK_ELEMENTS // max(len(a), 1))
    with np.errstate(over="ignore"):
        for lo in range(0, len(hashes), step):
            x, d = hashes[lo : lo + step], doc[lo : lo + step]
            block = a[:, None] * x[None, :]  # (permutations, shingles): reductions run along contiguous rows
            block += b[:, None]
            seg = np.flatnonzero(np.concatenate(([True], d[1:] != d[:-1])))
            docs = d[seg]
            sig[docs] = np.minimum(sig[docs], np.minimum.reduceat(block, seg, axis=1).T)
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
