"""Shingling, MinHash signatures and band keys, checked against independent Python references."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from dedup_corpus import BUNDLED_DOCS, edit, read_texts, reference_ngram_bytes, reference_shingles

from curation.dedup.hashing import span_hashes
from curation.dedup.shingles import shingle_hashes
from curation.dedup.signatures import EMPTY, band_keys, estimated_jaccard, minhash, permutations

DOCS = BUNDLED_DOCS


def _sets(texts: list[str | None], n: int = 5, mode: str = "word") -> list[set[int]]:
    sh = shingle_hashes(pa.array(texts, pa.string()), n, mode)
    out: list[set[int]] = [set() for _ in texts]
    for h, d in zip(sh.hashes.tolist(), sh.doc.tolist(), strict=True):
        out[d].add(h)
    return out


def test_word_shingles_match_the_python_reference_on_real_documents():
    texts = read_texts(DOCS)
    ours = _sets(texts)
    for text, hashes in zip(texts, ours, strict=True):
        assert len(hashes) == len(reference_shingles(text))
    # equal shingle sets <=> equal hash sets, across documents too
    ref = [reference_shingles(t) for t in texts]
    for i in range(len(texts)):
        for j in range(len(texts)):
            assert len(ours[i] & ours[j]) == len(ref[i] & ref[j])


def test_normalisation_ignores_case_punctuation_digits_and_spacing():
    a, b, c = _sets(
        [
            "The quick, brown fox jumps over 12 lazy dogs!",
            "the QUICK brown   fox\njumps over lazy dogs",
            "the quick brown fox leaps over lazy dogs",
        ]
    )
    assert a == b
    assert a != c


def test_short_empty_and_char_documents():
    texts = ["only three words", "", None, "1234 !!! 5678", "ünïcode wörds are kept as letters here ok"]
    sh = shingle_hashes(pa.array(texts), 5)
    assert sh.count.tolist() == [1, 0, 0, 0, 4]
    assert sh.short.tolist() == [True, False, False, False, False]
    chars = shingle_hashes(pa.array(["abcdefg", "abc", "ab cd"]), 5, "char")
    assert chars.count.tolist() == [3, 1, 1]
    with pytest.raises(ValueError, match="shingle mode"):
        shingle_hashes(pa.array(["x"]), 5, "byte")


def test_minhash_equals_a_per_permutation_python_loop():
    texts = read_texts(DOCS)[:4]
    sh = shingle_hashes(pa.array(texts), 5)
    a, b = permutations(16, seed=3)
    sig = minhash(sh.hashes, sh.doc, len(texts), (a, b))
    for d in range(len(texts)):
        xs = [int(h) for h in sh.hashes[sh.doc == d]]
        expected = [min(((int(a[k]) * x + int(b[k])) % 2**64) for x in xs) for k in range(16)]
        assert sig[d].tolist() == expected
    empty = minhash(sh.hashes[:0], sh.doc[:0], 2, (a, b))
    assert (empty == EMPTY).all()


@pytest.mark.shared_data
@pytest.mark.parametrize("mode, docs", [("word", None), ("char", 60)])
def test_hashes_and_signatures_equal_plain_computations_on_real_documents(shared, mode, docs):
    """Shingle hashes equal `span_hashes` of n-grams built in plain Python; signatures equal a numpy min over
    (permutations x shingles) products."""
    texts = read_texts(shared("cc_text", "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"))[:docs]
    texts += ["", "12 !!", "only three words"]
    sh = shingle_hashes(pa.array(texts), 5, mode)
    grams = [reference_ngram_bytes(t, 5, mode) for t in texts]
    flat = [g for doc_grams in grams for g in doc_grams]
    ends = np.cumsum([len(g) for g in flat])
    expected = span_hashes(np.frombuffer(b"".join(flat), np.uint8), ends - [len(g) for g in flat], ends)
    assert sh.doc.tolist() == [d for d, doc_grams in enumerate(grams) for _ in doc_grams]
    assert sh.hashes.tolist() == expected.tolist()

    a, b = permutations(112, seed=7)
    sig = minhash(sh.hashes, sh.doc, len(texts), (a, b))
    with np.errstate(over="ignore"):
        for d in range(len(texts)):
            x = sh.hashes[sh.doc == d]
            plain = (a[:, None] * x[None, :] + b[:, None]).min(axis=1) if len(x) else np.full(112, EMPTY)
            assert sig[d].tolist() == plain.tolist(), d


def test_estimated_jaccard_tracks_exact_jaccard():
    texts = read_texts(DOCS, min_words=200)
    rng = np.random.default_rng(0)
    vocab = sorted({w for t in texts for w in t.split()})
    pairs = [(t, edit(t, rate, vocab, rng)) for t in texts for rate in (0.01, 0.03, 0.08, 0.2)]
    flat = [x for p in pairs for x in p]
    sh = shingle_hashes(pa.array(flat), 5)
    sig = minhash(sh.hashes, sh.doc, len(flat), permutations(256, seed=0))
    est = estimated_jaccard(sig[0::2], sig[1::2])
    exact = np.array(
        [
            len(reference_shingles(x) & reference_shingles(y))
            / len(reference_shingles(x) | reference_shingles(y))
            for x, y in pairs
        ]
    )
    err = np.abs(est - exact)
    sigma = np.sqrt(exact * (1 - exact) / 256) + 1e-3
    assert exact.min() < 0.5 < 0.85 < exact.max()
    assert (err <= 4 * sigma).all(), list(zip(exact, est, strict=True))


def test_band_keys_match_exactly_when_a_band_matches_and_salt_separates_groups():
    rng = np.random.default_rng(1)
    sig = rng.integers(0, 2**63, size=(3, 8), dtype=np.uint64)
    sig[1, :4] = sig[0, :4]  # band 0 shared by docs 0 and 1
    keys = band_keys(sig, bands=2, rows=4)
    assert keys[0, 0] == keys[1, 0]
    assert len({*keys[:, 1].tolist()}) == 3 and keys[2, 0] not in keys[:2, 0]
    salted = band_keys(sig, 2, 4, salt=np.array([1, 2, 1], dtype=np.uint64))
    assert salted[0, 0] != salted[1, 0]
    # band index is part of the key: equal values in different bands do not collide
    same = np.tile(sig[:1, :4], (1, 2))
    k = band_keys(same, 2, 4)
    assert k[0, 0] != k[0, 1]


def test_invalid_utf8_in_a_parquet_string_column_is_masked(tmp_path):
    """Parquet readers do not check UTF-8: a foreign file's string column can carry invalid bytes."""
    import pyarrow.parquet as pq

    from curation.dedup.text_input import text_column

    data = b"caf\xc3\xa9 ok" + b"bad \xe2\x82" + b"plain"
    offsets = np.array([0, 8, 14, 19], dtype=np.int64)
    unchecked = pa.Array.from_buffers(pa.large_string(), 3, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    pq.write_table(pa.table({"text": unchecked}), tmp_path / "foreign.parquet")
    column = pq.read_table(tmp_path / "foreign.parquet").column("text")
    texts, bad = text_column(column)
    assert bad.tolist() == [False, True, False]
    assert texts.to_pylist() == ["café ok", None, "plain"]
    assert shingle_hashes(texts, 5).count.tolist() == [1, 0, 1]  # the invalid row is null: no shingles
