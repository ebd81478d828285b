"""`metaclip_match`: MetaCLIP's spacing rules, equality with a naive check on real alt texts, bad captions."""

from __future__ import annotations

import itertools
import json

import pyarrow as pa
import pytest

from curation.balance.entries import load_list
from curation.balance.matching import MetaclipMatch, spacing
from curation.rows import ERROR
from tests.balance.literal_check import literal_matches

from .conftest import single_process_matches


def _op(tmp_path, entries, **kw) -> MetaclipMatch:
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(entries))
    op = MetaclipMatch(metadata=str(path), **kw)
    op.validate()
    op.setup()
    return op


def _match(op: MetaclipMatch, captions: list, **columns) -> pa.Table:
    return op.map(pa.table({"caption": captions, **columns}))


def test_spacing_rules(tmp_path):
    entries = ["dog", "hot dog", "New York", "st", "a.m", "dog house", "house"]
    op = _op(tmp_path, entries)
    got = _match(op, [
        "A dog, a cat.",           # punctuation spaced out: "dog" matches
        "hot-dog stand",           # '-' is not spaced: no "dog"
        "new york in\tNew York!",  # case-sensitive; tab is a space
        "St. Louis",               # "St" != "st"
        "at 9 a.m sharp",          # "." is spaced out, so "a.m" can never match
        "dog house",               # overlapping entries share a space: all three match
        "",
    ]).column("matched_entries").to_pylist()  # fmt: skip
    assert got == [[0], [], [2], [], [], [0, 5, 6], []]
    assert spacing("a,b\nc") == " a , b c "
    lower = _match(_op(tmp_path, entries, lowercase=True), ["NEW YORK, Dog"]).column("matched_entries")
    assert lower.to_pylist() == [[0, 2]]


def _naive_spans(caption: str, ids: dict[str, int]) -> list[int]:
    """Every substring of the spaced caption that starts and ends at a space, looked up among `" entry "`."""
    spaced = spacing(caption)
    spaces = [i for i, c in enumerate(spaced) if c == " "]
    found = {ids[spaced[a : b + 1]] for a, b in itertools.combinations(spaces, 2) if spaced[a : b + 1] in ids}
    return sorted(found)


def test_matching_equals_a_naive_check_on_real_alt_texts(alt_texts, wordnet_metadata):
    captions = alt_texts.column("TEXT").to_pylist()
    entries = load_list(wordnet_metadata).entries
    assert len(entries) > 86_000 and len(captions) == 10_000
    matched = single_process_matches(alt_texts, wordnet_metadata)
    ids = {f" {e} ": i for i, e in reversed(list(enumerate(entries)))}  # first id of a repeated entry
    assert matched == [_naive_spans(c, ids) for c in captions]  # every caption, every entry position
    # the literal check of every entry (a string search per entry) on a sample of the captions
    sample = slice(0, 10_000, 100)
    assert matched[sample] == literal_matches(captions[sample], entries)
    assert sum(map(len, matched)) > 10_000  # a real workload: most captions match something


def test_lowercase_matching_equals_the_naive_check(alt_texts, wordnet_metadata):
    captions = alt_texts.column("TEXT").to_pylist()[:2000]
    entries = load_list(wordnet_metadata).entries
    op = MetaclipMatch(metadata=str(wordnet_metadata), column="TEXT", lowercase=True)
    op.setup()
    matched = op.map(alt_texts.slice(0, 2000)).column("matched_entries").to_pylist()
    ids = {f" {e.lower()} ": i for i, e in reversed(list(enumerate(entries)))}
    assert matched == [_naive_spans(c.lower(), ids) for c in captions]


def test_bad_captions_are_counted_errors(tmp_path):
    op = _op(tmp_path, ["dog"])
    out = _match(op, ["a dog", None, "dog"])
    assert out.column("matched_entries").to_pylist() == [[0], None, [0]]
    assert out.column(ERROR).to_pylist() == [None, "null_caption", None]
    ints = op.map(pa.table({"caption": [1, 2]}))
    assert ints.column(ERROR).to_pylist() == ["non_string_caption"] * 2
    raw = op.map(pa.table({"caption": pa.array([b"a dog", b"cat"], pa.binary())}))
    assert raw.column("matched_entries").to_pylist() == [[0], []]
    bad = op.map(pa.table({"caption": pa.array([b"\xff dog"], pa.binary())}))
    assert bad.column(ERROR).to_pylist() == ["undecodable_caption"]
    missing = op.map(pa.table({"text": ["a dog"]}))
    assert missing.column(ERROR).to_pylist() == ["missing_column_caption"]


def test_duplicate_entries_match_with_their_first_id(tmp_path):
    op = _op(tmp_path, ["cat", "dog", "", "dog"])
    assert _match(op, ["dog and cat", " "]).column("matched_entries").to_pylist() == [[0, 1], []]


def test_per_language_lists(tmp_path):
    folder = tmp_path / "metadata"
    folder.mkdir()
    (folder / "en.json").write_text(json.dumps(["dog", "cat"]))
    (folder / "de.json").write_text(json.dumps(["Hund", "Katze", "dog"]))
    (folder / "other.json").write_text(json.dumps(["猫", "dog"]))
    op = MetaclipMatch(metadata=str(folder))
    op.validate()
    op.setup()
    out = _match(
        op, ["a dog", "ein Hund, dog", "我的猫很好", "dog", "cat"], lang=["en", "de", "zh", None, "de"]
    )
    # zh has no list: "other", whose CJK entry needs no spaces (MetaCLIP 2); de's ids are de's own
    assert out.column("matched_entries").to_pylist() == [[0], [0, 2], [0], [1], []]
    always = MetaclipMatch(metadata=str(folder), entry_spacing="always")
    always.setup()
    assert _match(always, ["我的猫很好"], lang=["zh"]).column("matched_entries").to_pylist() == [[]]
    with pytest.raises(ValueError, match="entry_spacing"):
        MetaclipMatch(metadata=str(folder), entry_spacing="none").validate()
