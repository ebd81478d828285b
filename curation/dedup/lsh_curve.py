"""The S-curve of MinHash LSH: how likely a pair of a given Jaccard similarity is to be removed."""

from __future__ import annotations

import math


def candidate_probability(jaccard: float, bands: int, rows: int) -> float:
    """Probability that two documents of this Jaccard similarity share at least one band: 1 - (1 - J^r)^b."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


def midpoint(bands: int, rows: int) -> float:
    """The Jaccard similarity at which a pair becomes a candidate with probability 1/2: where LSH alone cuts."""
    return (1.0 - 0.5 ** (1.0 / bands)) ** (1.0 / rows)


def verified_probability(jaccard: float, hashes: int, threshold: float) -> float:
    """Probability that `hashes` MinHash values estimate a Jaccard >= `threshold` (binomial tail)."""
    need = math.ceil(threshold * hashes - 1e-9)
    return sum(
        math.comb(hashes, k) * jaccard**k * (1.0 - jaccard) ** (hashes - k) for k in range(need, hashes + 1)
    )


def removal_probability(jaccard: float, bands: int, rows: int, threshold: float | None) -> float:
    """Probability that a pair is found as near-duplicates: candidate, then (when `threshold` is given) verified.

    The two events are treated as independent, a close approximation when bands x rows is large.
    """
    p = candidate_probability(jaccard, bands, rows)
    return p if threshold is None else p * verified_probability(jaccard, bands * rows, threshold)
