"""`curate export` refuses what it cannot do before writing anything: a run that is not finished, a run without the
columns of the format, a target in the way or holding other files, options that do not go together. An export
replaces an earlier one only with --overwrite and only once the new one is complete."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pytest

from curation.cli import main
from curation.io.shards import write_table_shards
from curation.rows import CONVERSATION, DOCUMENT, INTERLEAVED, PAIR

IMAGES = sorted(Path("data/images").glob("*.jpg"))


def _pair_run(path: Path) -> Path:
    rows = [
        {"uid": p.stem, "url": f"http://x/{p.name}", "caption": f"photo {p.stem}", "image": p.read_bytes(),
         "width": 1, "height": 1}
        for p in IMAGES
    ]  # fmt: skip
    write_table_shards(pa.Table.from_pylist(rows, schema=PAIR), path)
    return path


def _text_run(path: Path) -> Path:
    rows = [{"id": "d1", "url": "http://x/1", "text": "some text", "lang": "en", "lang_score": 0.9}]
    write_table_shards(pa.Table.from_pylist(rows, schema=DOCUMENT), path)
    return path


def _conversation_run(path: Path) -> Path:
    messages = [
        {"role": "user", "content": "<image>\nwhat is it?"},
        {"role": "assistant", "content": "a photo"},
    ]
    rows = [{"id": p.stem, "images": [p.read_bytes()], "messages": messages} for p in IMAGES[:3]]
    write_table_shards(pa.Table.from_pylist(rows, schema=CONVERSATION), path)
    return path


def _tar_members(folder: Path) -> list[str]:
    names = []
    for shard in sorted(folder.glob("*.tar")):
        with tarfile.open(shard) as tar:
            names.extend(tar.getnames())
    return names


def test_a_text_run_is_refused_for_webdataset_and_nothing_is_written(tmp_path, capsys):
    run = _text_run(tmp_path / "text")
    assert main(["export", str(run), "--to", str(tmp_path / "wds")]) == 2
    err = capsys.readouterr().err
    assert "not a valid image-text table: missing column 'uid'" in err and "missing column 'image'" in err
    assert main(["export", str(run), "--to", "webdataset", "--out", str(tmp_path / "deep" / "wds")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text"]  # no folder, no partial shard
    wds = tmp_path / "wds"
    assert main(["export", str(_pair_run(tmp_path / "pairs")), "--to", str(wds)]) == 0
    before = (wds / "shard-00000.tar").read_bytes()
    assert main(["export", str(run), "--to", str(wds), "--overwrite"]) == 2  # keeps the earlier export
    assert (wds / "shard-00000.tar").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs", "text", "wds"]


def test_a_second_export_replaces_the_first_only_with_overwrite(tmp_path, capsys):
    run, wds = _pair_run(tmp_path / "run"), tmp_path / "wds"
    assert main(["export", str(run), "--to", str(wds), "--samples-per-shard", "2"]) == 0
    first = sorted(p.name for p in wds.iterdir())
    assert first == ["_export.json", *(f"shard-{i:05d}.tar" for i in range((len(IMAGES) + 1) // 2))]
    assert main(["export", str(run), "--to", str(wds)]) == 2
    assert "is not empty: pass --overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in wds.iterdir()) == first
    assert main(["export", str(run), "--to", str(wds), "--overwrite"]) == 0
    assert sorted(p.name for p in wds.glob("*.tar")) == ["shard-00000.tar"]  # no stale shards
    assert len(_tar_members(wds)) == 3 * len(IMAGES)  # .jpg, .txt, .json per sample, once each
    assert json.loads((wds / "_export.json").read_text())["files"] == ["shard-00000.tar"]


def test_overwrite_refuses_a_folder_holding_other_files(tmp_path, capsys):
    run, wds = _pair_run(tmp_path / "run"), tmp_path / "wds"
    assert main(["export", str(run), "--to", str(wds)]) == 0
    (wds / "notes.txt").write_text("mine")
    assert main(["export", str(run), "--to", str(wds), "--overwrite"]) == 2
    assert "holds files that are not an earlier export (notes.txt)" in capsys.readouterr().err
    assert (wds / "notes.txt").read_text() == "mine" and (wds / "shard-00000.tar").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["export", str(run), "--to", str(other), "--overwrite"]) == 2
    assert [p.name for p in other.iterdir()] == ["keep.txt"]


def test_conversation_exports_follow_the_same_folder_rule(tmp_path, capsys):
    run, out = _conversation_run(tmp_path / "conv"), tmp_path / "out"
    assert main(["export", str(run), "--to", "llava", "--out", str(out)]) == 0
    assert main(["export", str(run), "--to", "sharegpt", "--out", str(out)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert main(["export", str(run), "--to", "sharegpt", "--out", str(out), "--overwrite"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"-> {out / 'data.jsonl'}")
    assert not (out / "data.json").exists() and len((out / "data.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("fmt", [[], ["llava", "--out"], ["trl", "--out"]])
def test_an_unfinished_or_missing_run_is_one_clear_error(tmp_path, capsys, fmt):
    unfinished = tmp_path / "unfinished"
    (unfinished / "_work").mkdir(parents=True)
    for run in (unfinished, tmp_path / "nonexistent"):
        target = tmp_path / "target"
        assert main(["export", str(run), "--to", *fmt, str(target)]) == 2
        assert f"{run} is not a finished curate run (no _manifest.json)" in capsys.readouterr().err
        assert not target.exists()


def test_a_file_in_the_target_path_is_a_clear_error(tmp_path, capsys):
    run, afile = _pair_run(tmp_path / "run"), tmp_path / "afile"
    afile.write_text("x")
    assert main(["export", str(run), "--to", str(afile)]) == 2
    assert f"{afile} is a file" in capsys.readouterr().err
    assert main(["export", str(run), "--to", "llava", "--out", str(afile / "sub")]) == 2
    assert f"{afile} is a file, not a folder" in capsys.readouterr().err
    assert afile.read_text() == "x"


def test_format_names_need_out_and_a_folder_does_not_take_it(tmp_path, capsys, monkeypatch):
    run = _pair_run(tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    assert main(["export", str(run), "--to", "webdataset"]) == 2
    assert "--to webdataset writes into --out DIR" in capsys.readouterr().err
    assert main(["export", str(run), "--to", str(tmp_path / "a"), "--out", str(tmp_path / "b")]) == 2
    assert "--out goes with a format" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert main(["export", str(run), "--to", "webdataset", "--out", "wds"]) == 0
    assert (tmp_path / "wds" / "shard-00000.tar").is_file()


@pytest.mark.parametrize("count", ["0", "-5", "two"])
def test_samples_per_shard_must_be_positive(tmp_path, capsys, count):
    run = _pair_run(tmp_path / "run")
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(run), "--to", str(tmp_path / "wds"), "--samples-per-shard", count])
    assert exit_.value.code == 2 and "must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "wds").exists()


def test_the_current_folder_is_refused_as_a_target(tmp_path, capsys, monkeypatch):
    """The export is renamed into place: a target that is (or holds) the current folder would leave the shell in
    a deleted folder, so it is refused and left as it was."""
    run = _pair_run(tmp_path / "run")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for target in (".", str(tmp_path)):
        assert main(["export", str(run), "--to", target]) == 2
        assert "current folder" in capsys.readouterr().err
    assert here.is_dir() and not any(here.iterdir())


def test_samples_per_shard_goes_only_with_webdataset(tmp_path, capsys):
    """A conversation format writes no tar: `--samples-per-shard` with it is refused, not ignored."""
    run = _conversation_run(tmp_path / "run")
    args = ["export", str(run), "--to", "llava", "--out", str(tmp_path / "llava"), "--samples-per-shard", "5"]
    assert main(args) == 2
    assert "writes no tar" in capsys.readouterr().err
    assert not (tmp_path / "llava").exists()


def test_an_interleaved_run_without_the_contract_columns_is_refused(tmp_path, capsys):
    """A table with `texts` and `images` is exported as interleaved documents; without the contract's `doc_id`
    and `url` that is a clear error naming them, and nothing is written."""
    schema = pa.schema([("texts", pa.list_(pa.string())), ("images", INTERLEAVED.field("images").type)])
    table = pa.Table.from_pylist([{"texts": ["a text"], "images": [None]}], schema=schema)
    run = tmp_path / "run"
    write_table_shards(table, run)
    assert main(["export", str(run), "--to", str(tmp_path / "wds")]) == 2
    err = capsys.readouterr().err
    assert "missing column 'doc_id'" in err and "missing column 'url'" in err
    assert not (tmp_path / "wds").exists()
