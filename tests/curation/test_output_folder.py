"""What a rerun may do with the output folder: `--overwrite` replaces an earlier run's folder and nothing else, never
deletes the run's own input, and excludes `--resume`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curation.cli import main
from curation.io.shards import MANIFEST_NAME
from tests.curation.warc_craft import jsonl


def _recipe(tmp_path: Path, inputs: str) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(
        json.dumps(
            {"name": "t", "input": {"paths": [inputs]}, "steps": [{"gopher_quality": {"tag_only": True}}]}
        )
    )
    return str(path)


@pytest.mark.parametrize("given", ["file", "glob", "link to the output"])
def test_overwrite_refuses_an_output_folder_that_holds_the_input(tmp_path, capsys, given):
    folder = tmp_path / "inp"
    folder.mkdir()
    docs = folder / "docs.jsonl"
    docs.write_bytes(jsonl(5))
    inputs = {"file": str(docs), "glob": f"{tmp_path}/*/*.jsonl", "link to the output": str(docs)}[given]
    out = {"file": folder, "glob": tmp_path, "link to the output": tmp_path / "link"}[given]
    (tmp_path / "link").symlink_to(folder)
    assert main(["run", _recipe(tmp_path, inputs), "--output", str(out), "--overwrite"]) == 2
    assert f"input {docs} lies inside the output folder {out}" in capsys.readouterr().err
    assert docs.read_bytes() == jsonl(5)


def test_an_input_reached_through_a_link_inside_the_output_is_refused(tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    (real / "docs.jsonl").write_bytes(jsonl(5))
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text("{}")
    (out / "link").symlink_to(real)
    assert (
        main(
            ["run", _recipe(tmp_path, str(out / "link" / "docs.jsonl")), "--output", str(out), "--overwrite"]
        )
        == 2
    )
    assert "lies inside the output folder" in capsys.readouterr().err
    assert (out / "link" / "docs.jsonl").read_bytes() == jsonl(5)


@pytest.mark.parametrize("flag", ["--overwrite", "--resume", None])
def test_a_folder_no_run_wrote_is_refused_and_kept(tmp_path, capsys, flag):
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(jsonl(5))
    out = tmp_path / "papers"
    out.mkdir()
    (out / "thesis.txt").write_text("four years of work")
    args = ["run", _recipe(tmp_path, str(docs)), "--output", str(out)]
    assert main(args + ([flag] if flag else [])) == 2
    err = capsys.readouterr().err
    assert f"output {out} is not empty and holds no curate run (no _manifest.json, no _work/)" in err
    assert [p.name for p in out.iterdir()] == ["thesis.txt"]
    assert (out / "thesis.txt").read_text() == "four years of work"


def test_resume_and_overwrite_together_are_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "pipelines/refinedweb.yaml", "--output", str(tmp_path), "--resume", "--overwrite"])
    assert exc.value.code == 2
    assert "argument --overwrite: not allowed with argument --resume" in capsys.readouterr().err


def test_overwrite_replaces_a_finished_or_an_interrupted_run(ray_local, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(jsonl(5))
    recipe = _recipe(tmp_path, str(docs))
    out = tmp_path / "out"
    assert main(["run", recipe, "--output", str(out)]) == 0
    (out / "report.html").write_text("an earlier report")
    assert main(["run", recipe, "--output", str(out), "--overwrite"]) == 0
    assert not (out / "report.html").exists() and (out / MANIFEST_NAME).is_file()
    interrupted = tmp_path / "interrupted"
    (interrupted / "_work" / "p00_segment").mkdir(parents=True)
    assert main(["run", recipe, "--output", str(interrupted), "--overwrite"]) == 0
    assert json.loads((interrupted / MANIFEST_NAME).read_text())["total_rows"] == 5


def test_the_manifest_records_the_input_output_and_limit_the_run_had(ray_local, tmp_path):
    yaml_docs, docs = tmp_path / "yaml.jsonl", tmp_path / "docs.jsonl"
    yaml_docs.write_bytes(jsonl(3))
    docs.write_bytes(jsonl(30))
    recipe = _recipe(tmp_path, str(yaml_docs))
    full, limited = tmp_path / "full", tmp_path / "limited"
    assert main(["run", recipe, "--input", str(docs), "--output", str(full)]) == 0
    assert main(["run", recipe, "--input", str(docs), "--output", str(limited), "--limit", "10"]) == 0
    a, b = (json.loads((out / MANIFEST_NAME).read_text()) for out in (full, limited))
    assert (a["total_rows"], b["total_rows"]) == (30, 10)
    assert (a["limit"], b["limit"]) == (None, 10)
    for manifest, out in ((a, full), (b, limited)):
        body = manifest["recipe"]["body"]
        assert body["input"]["paths"] == [str(docs)] and manifest["inputs"] == [str(docs)]
        assert body["output"]["path"] == str(out)
    assert b["recipe"]["body"]["input"]["limit"] == 10 and "limit" not in a["recipe"]["body"]["input"]
    assert (
        a["recipe"]["digest"] != b["recipe"]["digest"]
    )  # the digest identifies the output: the limit decides it
