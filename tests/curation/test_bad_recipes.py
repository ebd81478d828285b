"""Issue 18, recipes and run options: every mistake is one clear error (exit 2) before Ray starts."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.cli import main
from curation.ops import REGISTRY, Op, load_builtin_ops
from curation.recipe import RecipeError, load_recipe, parse_recipe
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
    # a model folder that does not exist (a typo), without `pretrained`: it was taken for a registry name and
    # failed on every worker once the run had started
    missing = tmp_path / "clip_modle"
    sets = [f"input.paths=['{tmp_path}/pool.parquet']", f"steps[0].clip_score.model={missing}"]
    sets.append("steps[0].clip_score.pretrained=null")
    code = main(["validate", "pipelines/datacomp_clip.yaml", *(arg for s in sets for arg in ("--set", s))])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"clip_score: cannot load its model: open_clip model {missing}: no such folder" in err


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


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # a dict's keys and values and a list's elements are type-checked, naming the element
        (
            "steps[4].gopher_repetition.dup_n_grams={5: abc}",
            "steps[4].gopher_repetition.dup_n_grams[5]: expected float, got str 'abc'",
        ),
        (
            "steps[4].gopher_repetition.top_n_grams={x: 0.1}",
            "top_n_grams['x'] (key): expected int, got str 'x'",
        ),
        ("steps[2].language_id.keep=[en, 5]", "steps[2].language_id.keep[1]: expected str, got int 5"),
        # null only where the parameter's type allows it
        ("steps[2].language_id.min_score=null", "steps[2].language_id.min_score: expected float, got null"),
        # ranges (Op.ranges), also of a dict's values
        ("steps[9].minhash_dedup.bands=0", "steps[9].minhash_dedup.bands: must be >= 1, got 0"),
        ("steps[9].minhash_dedup.bands=-3", "steps[9].minhash_dedup.bands: must be >= 1, got -3"),
        (
            "steps[3].badwords_filter.max_ratio=-1",
            "steps[3].badwords_filter.max_ratio: must be within [0, 1], got -1",
        ),
        ("steps[3].badwords_filter.max_count=-3", "steps[3].badwords_filter.max_count: must be >= 0, got -3"),
        ("steps[5].gopher_quality.min_doc_words=-10", "gopher_quality.min_doc_words: must be >= 0, got -10"),
        (
            "steps[5].gopher_quality.max_symbol_word_ratio=-0.1",
            "max_symbol_word_ratio: must be >= 0, got -0.1",
        ),
        ("steps[2].language_id.max_chars=-1", "steps[2].language_id.max_chars: must be >= 1, got -1"),
        ("steps[4].gopher_repetition.dup_line_frac=2", "dup_line_frac: must be within [0, 1], got 2"),
        ("steps[4].gopher_repetition.dup_n_grams={5: 1.5}", "dup_n_grams[5]: must be within [0, 1], got 1.5"),
        # values that name something that is not there
        ("steps[0].url_filter.blocklist=nosuch", "url_filter: blocklist: 'nosuch' does not exist"),
        (
            "steps[0].url_filter.banned_words=nosuch",
            "url_filter: banned_words: list file 'nosuch' does not exist",
        ),
        (
            "steps[2].language_id.keep=[english]",
            "keep: 'english' is not a language code of the fasttext engine",
        ),
        (
            "steps[2].language_id={keep: [xx], engine: lingua}",
            "keep: 'xx' is not a language code of the lingua",
        ),
    ],
)
def test_a_bad_op_parameter_is_one_line_naming_its_place(capsys, override, message):
    assert main(["validate", "pipelines/refinedweb.yaml", "--set", override]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("engine", "keep"), [("fasttext", ["en", "de", "yue"]), ("lingua", ["en", "zh"]), ("fasttext", [])]
)
def test_language_codes_the_engines_know_are_accepted(engine, keep):
    load_recipe("pipelines/refinedweb.yaml", [f"steps[2].language_id={{keep: {keep}, engine: {engine}}}"])


def test_unknown_ut1_categories_are_an_error_listing_the_available_ones(tmp_path, capsys):
    for category in ("adult", "gambling"):
        (tmp_path / "ut1" / category).mkdir(parents=True)
        (tmp_path / "ut1" / category / "domains").write_text("blocked.example\n")
    sets = [
        f"steps[0].url_filter.blocklist={tmp_path / 'ut1'}",
        "steps[0].url_filter.blocklist_categories=[adult, nosuchcat]",
    ]
    assert main(["validate", "pipelines/refinedweb.yaml", *(a for s in sets for a in ("--set", s))]) == 2
    err = capsys.readouterr().err
    assert (
        "steps[0].url_filter" in err and "'nosuchcat' not in" in err and "available: adult, gambling" in err
    )


def test_an_op_check_that_crashes_is_one_line_not_a_traceback(monkeypatch):
    @dataclasses.dataclass
    class Broken(Op):
        def validate(self) -> None:
            _ = 1 / 0

    monkeypatch.setitem(REGISTRY, "broken_check", Broken)
    with pytest.raises(RecipeError, match=r"steps\[0\].broken_check: its parameters could not be checked"):
        parse_recipe({"input": {"paths": ["x"]}, "steps": [{"broken_check": {}}]})


def test_declared_ranges_name_parameters_and_hold_their_defaults():
    load_builtin_ops()
    for name, cls in REGISTRY.items():
        defaults = {param: default for param, _, default in cls.params()}
        for param, (low, high) in cls.ranges.items():
            assert param in defaults, f"{name}.ranges names no parameter {param!r}"
            values = defaults[param].values() if isinstance(defaults[param], dict) else [defaults[param]]
            for value in values:
                if value is not None:
                    assert (low is None or value >= low) and (high is None or value <= high), (name, param)


@pytest.mark.parametrize(
    ("op", "params", "message"),
    [
        ("clip_score", {"min_score": 2}, "clip_score.min_score: must be within [-1, 1], got 2"),
        ("mmc4_assign", {"min_similarity": -2}, "mmc4_assign.min_similarity: must be within [-1, 1], got -2"),
        ("image_resize", {"quality": 0}, "image_resize.quality: must be within [1, 100], got 0"),
        ("nsfw_filter", {"threshold": 1.5}, "nsfw_filter.threshold: must be within [0, 1], got 1.5"),
        ("semantic_dedup", {"eps": 3}, "semantic_dedup.eps: must be within [0, 2], got 3"),
    ],
)
def test_ops_outside_the_shipped_recipes_have_their_bounds_too(op, params, message):
    """Similarities are cosines, thresholds fractions, JPEG quality 1-100: out of range is an error before a run."""
    with pytest.raises(RecipeError, match=re.escape(message)):
        parse_recipe(
            {"name": "t", "input": {"paths": ["x"], "format": "img2dataset"}, "steps": [{op: params}]}
        )
