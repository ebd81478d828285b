"""MinHash presets cut where they say: constructed pairs just above and just below each preset's stated threshold
are removed at the rates of the documented S-curve (through the stage's own shingling, signatures and bands)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curation.dedup.lsh_curve import midpoint, removal_probability
from curation.dedup.minhash import PRESETS, MinhashDedup
from curation.dedup.shingles import shingle_hashes
from curation.dedup.signatures import band_keys, estimated_jaccard, minhash, permutations

# per shingle kind: (words per document, spacing of the replaced words, most replacements): enough edits to
# spread the pairs' Jaccard similarity over about 0.55-0.95
SHAPES = {"word": (600, 6, 36), "char": (150, 3, 45)}


def _pairs(count: int, shingle: str, seed: int = 7) -> list[str]:
    """`count` (original, edited copy) pairs of random-word documents; the copy has k words replaced by new ones,
    spaced so that each replacement changes its own shingles."""
    words, spacing, most = SHAPES[shingle]
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = ["".join(rng.choice(letters, size=rng.integers(3, 9))) for _ in range(20_000)]
    texts = []
    for i in range(count):
        doc = [vocab[j] for j in rng.integers(0, len(vocab), size=words)]
        edited = list(doc)
        for slot in rng.choice(words // spacing, size=int(rng.integers(2, most)), replace=False):
            edited[slot * spacing] = f"new{i}q{slot}"
        texts += [" ".join(doc), " ".join(edited)]
    return texts


def _removed(texts: list[str], preset: str) -> tuple[np.ndarray, np.ndarray]:
    """(exact Jaccard of each pair's shingle sets, whether the preset removes the copy)."""
    s = MinhashDedup(preset=preset).settings()
    sh = shingle_hashes(pa.array(texts), s.ngram, s.shingle)
    bounds = np.searchsorted(sh.doc, np.arange(len(texts) + 1))
    sets = [set(sh.hashes[a:b].tolist()) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    jaccard = np.array([len(a & b) / len(a | b) for a, b in zip(sets[::2], sets[1::2], strict=True)])
    sig = minhash(sh.hashes, sh.doc, len(texts), permutations(s.bands * s.rows, seed=0))
    keys = band_keys(sig, s.bands, s.rows)
    removed = (keys[::2] == keys[1::2]).any(axis=1)
    if s.verify:
        removed &= estimated_jaccard(sig[::2], sig[1::2]) >= s.threshold
    return jaccard, removed


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_pairs_around_the_stated_threshold(preset):
    s = MinhashDedup(preset=preset).settings()
    jaccard, removed = _removed(_pairs(600, s.shingle), preset)
    threshold = None if not s.verify else s.threshold
    for lo, hi in ((s.threshold + 0.03, s.threshold + 0.08), (s.threshold - 0.08, s.threshold - 0.03)):
        band = (jaccard >= lo) & (jaccard < hi)
        assert band.sum() >= 40, f"too few constructed pairs in [{lo:.2f}, {hi:.2f})"
        expected = np.mean([removal_probability(j, s.bands, s.rows, threshold) for j in jaccard[band]])
        assert abs(removed[band].mean() - expected) < 0.1, (lo, hi, removed[band].mean(), expected)
        if lo > s.threshold:
            assert removed[band].mean() >= 0.75
        else:
            assert removed[band].mean() <= 0.25


def test_stated_threshold_is_where_the_preset_cuts():
    for name, p in PRESETS.items():
        if not p.verify:
            assert abs(p.threshold - midpoint(p.bands, p.rows)) < 0.01, name
    assert MinhashDedup(preset="fineweb", verify=False).settings().threshold == 0.68
    with pytest.raises(ValueError, match="cut at 0.72"):
        MinhashDedup(preset="refinedweb", threshold=0.8).validate()
    MinhashDedup(preset="refinedweb", threshold=0.8, verify=True).validate()


def test_documented_s_curve_matches_the_formula():
    doc = MinhashDedup.__doc__
    rows = {
        "fineweb (verified at 0.75)": (14, 8, 0.75),
        "fineweb, verify: false": (14, 8, None),
        "refinedweb": (450, 20, None),
        "char (verified at 0.75)": (20, 10, 0.75),
    }
    for label, (bands, r, t) in rows.items():
        values = " | ".join(
            f"{removal_probability(j, bands, r, t):.2f}" for j in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
        )
        assert f"| {label} | {values} |" in doc
