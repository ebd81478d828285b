"""`curate metadata build` and entry-list loading: MetaCLIP's part-1 rule, the user's lists, bad files."""

from __future__ import annotations

import json

import pytest

from curation.balance.builder import build_metadata
from curation.balance.entries import MetadataError, load_list
from curation.balance.wordnet import wordnet_entries
from curation.cli import main
from curation.recipe import RecipeError, load_recipe


def test_wordnet_entries_equal_the_independent_rebuild(shared):
    ours = wordnet_entries(shared("wordnet"))
    reference = shared("metaclip", "wordnet_synset_entries.txt").read_text(encoding="utf-8").splitlines()
    assert len(ours) == len(set(ours)) == 86_571
    assert sorted(ours) == sorted(reference)


def test_build_merges_sources_in_metaclip_order(shared, tmp_path, capsys):
    (tmp_path / "uni.txt").write_text("zebra\ndog\n\n!\nqwertyzzz\n")  # dog is in WordNet; "" and "!" skipped
    (tmp_path / "bi.txt").write_text("hot dog\nqwertyzzz\nnew york city\n")
    out = tmp_path / "m" / "metadata.json"
    rc = main(["metadata", "build", "--wordnet", str(shared("wordnet")), "--unigrams", str(tmp_path / "uni.txt"),
               "--bigrams", str(tmp_path / "bi.txt"), "--out", str(out)])  # fmt: skip
    assert rc == 0
    entries = json.loads(out.read_text())
    wordnet = wordnet_entries(shared("wordnet"))
    user = ["zebra", "dog", "qwertyzzz", "hot dog", "qwertyzzz", "new york city"]
    expected = list(dict.fromkeys([str(i) for i in range(100)] + wordnet + user))
    assert entries == expected  # numbers, WordNet, then the user's lists; first occurrence wins
    assert "2 empty/punctuation skipped" in capsys.readouterr().out
    assert list(load_list(out).entries) == entries


def test_build_without_sources_or_with_a_missing_file_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(MetadataError, match="no sources"):
        build_metadata(numbers=False)
    assert (
        main(
            ["metadata", "build", "--unigrams", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "m.json")]
        )
        == 2
    )
    assert "nope.txt does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "holds no entries"),
        ('["", "  "]', "holds no entries"),
        ('["dog", "cat"', "malformed JSON at line 1"),
        ('{"dog": 1} x', "malformed JSON"),
        ('"dog"', "expected a JSON list of strings, got str"),
        ('["dog", 7]', "entry 1 is int 7, not a string"),
        (b"\xff\xfe[]", "not UTF-8"),
    ],
)
def test_bad_metadata_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "metadata.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(MetadataError, match=message):
        load_list(path)
    with pytest.raises(RecipeError, match=rf"steps\[0\]\.metaclip_match: .*{message}"):
        load_recipe("pipelines/metaclip.yaml", [f"steps[0].metaclip_match.metadata={path}"])


def test_a_missing_metadata_file_names_the_builder(tmp_path):
    with pytest.raises(RecipeError, match="does not exist .*curate metadata build"):
        load_recipe("pipelines/metaclip.yaml", [f"steps[0].metaclip_match.metadata={tmp_path}/none.json"])


def test_duplicates_and_empty_entries_keep_ids_aligned(tmp_path):
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(["dog", "", "cat", "dog"]))
    entries = load_list(path)
    assert (entries.duplicates, entries.empty, len(entries.entries)) == (1, 1, 4)


def test_metaclip_dict_layout_loads_its_keys_in_order(tmp_path):
    path = tmp_path / "de.json"
    path.write_text(json.dumps({"0": "", "Hund": "w", "Katze": "u"}))
    assert load_list(path).entries == ("0", "Hund", "Katze")


def test_an_out_path_under_a_file_or_at_a_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "uni.txt").write_text("dog\n")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, message in ((afile / "m.json", f"{afile} is a file, not a folder"), (tmp_path, "is a folder")):
        assert main(["metadata", "build", "--unigrams", str(tmp_path / "uni.txt"), "--out", str(out)]) == 2
        assert message in capsys.readouterr().err
    assert afile.read_text() == "x"
