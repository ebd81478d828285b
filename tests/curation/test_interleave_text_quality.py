"""OBELICS's text ratio rules (issue 13): the measures against an independent count (the Gopher rules' n-gram ids)
on real MMC4 text, hand-checked values, and each rule of the document filter firing on a text made to fail it."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyarrow as pa
import pytest

from curation.interleave.filters import InterleavedDocFilter, InterleavedTextFilter
from curation.interleave.text_quality import (
    character_repetition_ratio,
    list_ratio,
    punctuation_ratio,
    special_character_ratio,
    word_list,
    word_repetition_ratio,
    words,
)
from curation.io.interleaved import to_table
from curation.io.mmc4 import read_mmc4
from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit
from curation.ops.gopher import TokenNgrams

MMC4 = ("mmc4", "docs_no_face_shard_151_v3.partial.jsonl.gz")


def _char_rep(text: str, n: int) -> float:
    """The definition over the Gopher rules' dense n-gram ids (an independent count)."""
    counts = np.sort(np.bincount(TokenNgrams(list(text)).ids(n)))[::-1]
    k = min(math.isqrt(len(counts)), int((counts > 1).sum()))
    return float(counts[:k].sum() / counts.sum())


def _word_rep(tokens: list[str], n: int) -> float:
    counts = np.bincount(TokenNgrams(tokens).ids(n))
    return float(counts[counts > 1].sum() / counts.sum())


def test_measures_by_hand():
    assert words("Hello, World!! 123 it's (ok) -- 4x4") == ["hello", "world", "it's", "ok", "x"]
    assert special_character_ratio("ab 1!") == pytest.approx(3 / 5)
    assert character_repetition_ratio("a" * 12) == 1.0 and character_repetition_ratio("abcdefghijkl") == 0.0
    assert word_repetition_ratio(list("abcdeabcde")) == pytest.approx(2 / 6)
    assert punctuation_ratio("one, two. three") == pytest.approx(2 / 5)
    assert punctuation_ratio("one, two. three", min_tokens=12) == 1.0  # too short to judge
    assert list_ratio(words("The cat and the hat"), word_list("stopwords")) == pytest.approx(3 / 5)
    assert "porn" in word_list("flagged") and "the" not in word_list("flagged")


def test_measures_equal_their_definitions_on_real_text(shared):
    table = pa.concat_tables(read_mmc4(Unit(0, str(shared(*MMC4)), "mmc4"), ReaderStats(), 1000))
    docs = ["\n\n".join(texts) for texts in table.column("texts").to_pylist()[:40]]
    for text in docs:
        tokens = words(text)
        assert character_repetition_ratio(text) == pytest.approx(_char_rep(text, 10))
        assert word_repetition_ratio(tokens) == pytest.approx(_word_rep(tokens, 5))


def test_each_document_rule_fires():
    stock = "the cat sat on the mat and then it went to sleep near a warm fire. "
    unique = ["".join(p) for p in itertools.product(["ba", "ke", "lo", "mi", "su"], repeat=3)]
    cases = {
        "character_repetition": "Buy cheap watches now! " * 40,
        "word_repetition": " ".join(unique[:60] + unique[60:90] * 2 + unique[90:]),  # 30 words said twice
        "special_characters": "$$$ ### 1234 5678 %%% &&& *** +++ === ~~~ ^^^ the cat",
        "stopwords": "Quantum chromodynamics describes gluons binding quarks inside hadrons, nucleons, mesons.",
        "flagged_words": "the porn site and the xxx site were blocked today by the city council, they said.",
        "punctuation": "the cat sat on the mat and then it went to sleep near a warm fire while it rained",
        None: stock,
    }
    doc = InterleavedDocFilter(lang=None, min_images=None, max_words=None)
    doc.setup()
    batch = to_table(
        [{"doc_id": str(k), "texts": [text], "images": []} for k, text in enumerate(cases.values())]
    )
    assert doc.evaluate(batch).column("_drop").to_pylist() == list(cases)
    node = InterleavedTextFilter()
    node.setup()
    out = node.map(
        to_table([{"doc_id": "d", "texts": list(cases.values()), "images": [{"url": "u", "text_index": 6}]}])
    )
    row = out.to_pylist()[0]
    assert row["texts"] == [cases[None]] and row["dropped_texts"] == 6
    assert row["images"][0]["text_index"] == 0  # still before the text it stood before


def test_bad_cutoffs_and_missing_word_lists_are_refused():
    for bad in ({"min_stopwords": 35}, {"max_flagged_words": -0.1}, {"flagged_words": "/no/such/list.txt"}):
        with pytest.raises(ValueError):
            InterleavedDocFilter(**bad).validate()
        with pytest.raises(ValueError):
            InterleavedTextFilter(**bad).validate()
