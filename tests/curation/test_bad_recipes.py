"""Issue 18, recipes and run options: every mistake is one clear error (exit 2) before Ray starts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.cli import main
from curation.recipe import RecipeError, load_recipe
from tests.curation.warc_craft import jsonl


@pytest.fixture
def docs(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(jsonl(12))
    return path


def _recipe(tmp_path, docs, text: str | None = None, **sections) -> str:
    body = {"name": "r", "input": {"paths": [str(docs)]}, "steps": [{"gopher_quality": {"tag_only": True}}]}
    for key, value in sections.items():
        body.setdefault(key, {}).update(value)
    path = tmp_path / "recipe.yaml"
    path.write_text(text if text is not None else json.dumps(body))
    return str(path)


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"output": {"shard_rows": 0}}, "output.shard_rows: must be an integer >= 1, got 0"),
        ({"input": {"limit": -5}}, "input.limit: must be an integer >= 1 or null, got -5"),
        ({"input": {"limit": "abc"}}, "input.limit: must be an integer >= 1 or null, got 'abc'"),
        ({"input": {"batch_rows": 2.5}}, "input.batch_rows: must be an integer >= 1, got 2.5"),
        ({"execution": {"max_workers": "many"}}, "execution.max_workers: must be an integer >= 1 or null"),
        ({"output": {"rejects": "yes"}}, "output.rejects: must be true or false"),
    ],
)
def test_settings_of_the_wrong_type_or_range_are_exit_2_before_anything_runs(
    tmp_path, docs, capsys, sections, message
):
    out = tmp_path / "out"
    assert main(["run", _recipe(tmp_path, docs, **sections), "--output", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_limit_below_one_is_refused(tmp_path, docs, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", _recipe(tmp_path, docs), "--limit", "0"])
    assert exc.value.code == 2 and "must be an integer >= 1" in capsys.readouterr().err


def test_billion_laughs_is_refused_quickly(tmp_path, docs):
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "\n".join(
        [
            "name: laughs",
            "description:",
            *("  " + line for line in levels),
            f"input: {{paths: ['{docs}']}}",
            "steps: [{gopher_quality: {}}]",
        ]
    )
    started = time.perf_counter()
    with pytest.raises(RecipeError, match="expands to more than"):
        load_recipe(_recipe(tmp_path, docs, text))
    assert time.perf_counter() - started < 5


def test_a_duplicate_key_is_an_error(tmp_path, docs):
    text = f"name: r\ninput: {{paths: ['{docs}']}}\nsteps: [{{gopher_quality: {{}}}}]\nseed: 1\nseed: 2\n"
    with pytest.raises(RecipeError, match="duplicate key 'seed'"):
        load_recipe(_recipe(tmp_path, docs, text))


def test_anchors_and_aliases_within_the_bound_still_work(tmp_path, docs):
    text = f"name: r\ninput: {{paths: ['{docs}']}}\nsteps: [{{gopher_quality: &q {{tag_only: true}}}}, {{c4_quality: *q}}]\n"
    recipe = load_recipe(_recipe(tmp_path, docs, text))
    assert [s.params for s in recipe.steps] == [{"tag_only": True}, {"tag_only": True}]


def test_output_that_is_an_existing_file_is_exit_2(tmp_path, docs, capsys):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert main(["run", _recipe(tmp_path, docs), "--output", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "not a folder"


def test_output_that_is_a_link_to_nothing_is_exit_2(tmp_path, docs, capsys):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    assert main(["run", _recipe(tmp_path, docs), "--output", str(link)]) == 2
    assert f"{link} is a symbolic link to nothing" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("width", ["640", "480"], "column 'width' is string, expected an integer"),
        ("status", [1, 0], "column 'status' is int64, expected a string"),
    ],
)
def test_img2dataset_columns_of_the_wrong_type_are_exit_2(tmp_path, capsys, column, values, message):
    table = {
        "key": ["a", "b"],
        "caption": ["x", "y"],
        "jpg": [b"1", b"2"],
        "width": [640, 480],
        "status": ["success"] * 2,
    }
    table[column] = values
    pq.write_table(pa.table(table), tmp_path / "pool.parquet")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        json.dumps(
            {
                "input": {"format": "img2dataset", "paths": [str(tmp_path / "pool.parquet")]},
                "steps": ["caption_filter"],
            }
        )
    )
    assert main(["validate", str(recipe)]) == 2
    assert message in capsys.readouterr().err
    assert main(["run", str(recipe), "--output", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_an_unloadable_model_is_one_clear_error_naming_the_step(tmp_path, capsys, monkeypatch):
    """pipelines/datacomp_clip.yaml as shipped, with no network and no cached weights."""
    pytest.importorskip("open_clip")
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # .invalid never resolves (RFC 2606)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    (tmp_path / "pool.parquet").write_bytes(b"")
    code = main(
        ["validate", "pipelines/datacomp_clip.yaml", "--set", f"input.paths=['{tmp_path}/pool.parquet']"]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "clip_score: cannot load its model" in err and "laion2b_s34b_b79k" in err
    assert "`pretrained` to a local checkpoint file" in err


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("override", ["seed=[1", "steps[0].gopher_quality.tag_only=[en"])
def test_a_set_value_that_is_not_yaml_is_one_line_naming_the_argument(
    tmp_path, docs, capsys, command, override
):
    assert main([command, _recipe(tmp_path, docs), "--set", override]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"error: --set {override!r}: the value is not valid YAML: expected ',' or ']', but got '<stream end>'\n"
    )


def test_a_binary_recipe_file_is_exit_2(tmp_path, capsys):
    recipe = tmp_path / "x.yaml"
    recipe.write_bytes(Path("data/warc/demo.warc.gz").read_bytes()[:4096])
    assert main(["validate", str(recipe)]) == 2
    assert capsys.readouterr().err == f"error: recipe file '{recipe}' cannot be read: not a UTF-8 text file\n"


@pytest.mark.parametrize(("given", "what"), [("in", "is a folder"), ("i*", "matches only folders")])
def test_a_folder_as_input_is_exit_2_suggesting_a_glob(tmp_path, docs, capsys, given, what):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "docs.jsonl").write_bytes(docs.read_bytes())
    pattern = str(tmp_path / given)
    assert main(["run", _recipe(tmp_path, docs), "--input", pattern, "--output", str(tmp_path / "out")]) == 2
    assert (
        f"input path {pattern!r} {what}: name its files with a glob, e.g. '{pattern}/*'"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()
