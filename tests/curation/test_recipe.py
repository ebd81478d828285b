"""Recipe loading: safe YAML, errors that name the YAML location and the valid choices, overrides."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from curation.io.units import expand_paths
from curation.ops.base import REGISTRY, Mapper
from curation.recipe import RecipeError, apply_override, load_recipe, parse_recipe

BASE = {
    "name": "t",
    "input": {"paths": ["data/warc/demo.warc.gz"]},
    "steps": [{"html_extract": {}}, {"language_id": {"keep": ["en"], "min_score": 0.5}}],
}


def _with(**changes):
    raw = yaml.safe_load(yaml.safe_dump(BASE))
    raw.update(changes)
    return raw


def test_shipped_recipes_validate():
    for name in ("refinedweb", "fineweb"):
        recipe = load_recipe(f"pipelines/{name}.yaml")
        assert recipe.steps, name


def test_misspelled_op_is_named_with_suggestion_and_choices():
    with pytest.raises(RecipeError) as err:
        parse_recipe(_with(steps=[{"html_extract": {}}, {"languge_id": {}}]))
    msg = str(err.value)
    assert msg.startswith("steps[1].languge_id:")
    assert "did you mean 'language_id'" in msg
    assert "gopher_quality" in msg  # lists the valid ops


def test_misspelled_key_is_named_with_valid_keys():
    with pytest.raises(RecipeError) as err:
        parse_recipe(_with(steps=[{"language_id": {"min_scor": 0.3}}]))
    msg = str(err.value)
    assert msg.startswith("steps[0].language_id.min_scor:")
    assert "did you mean 'min_score'" in msg and "keep" in msg


def test_wrong_type_and_bad_value_are_located():
    with pytest.raises(RecipeError, match=r"steps\[0\].language_id.min_score: expected float"):
        parse_recipe(_with(steps=[{"language_id": {"min_score": "high"}}]))
    with pytest.raises(
        RecipeError, match=r"steps\[0\].language_id.min_score: must be within \[0, 1\], got 3.0"
    ):
        parse_recipe(_with(steps=[{"language_id": {"min_score": 3.0}}]))
    with pytest.raises(RecipeError, match=r"steps\[0\].html_extract: engine must be one of"):
        parse_recipe(_with(steps=[{"html_extract": {"engine": "lynx"}}]))


@dataclasses.dataclass
class _TypeCheckerOnly(Mapper):
    """A plugin whose parameter is annotated with a name imported only for type checkers."""

    model: ImportedForTypeCheckersOnly | None = None  # noqa: F821

    def map(self, batch):
        return batch


def test_a_plugin_annotation_that_cannot_be_resolved_leaves_its_parameters_unchecked(monkeypatch):
    monkeypatch.setitem(REGISTRY, "type_checker_only", _TypeCheckerOnly)
    recipe = parse_recipe(_with(steps=[{"type_checker_only": {"model": "anything"}}]))
    assert recipe.steps[0].params == {"model": "anything"}


def test_unknown_top_level_and_section_keys():
    with pytest.raises(RecipeError, match=r"^ouput: unknown key 'ouput' \(did you mean 'output'"):
        parse_recipe(_with(ouput={}))
    with pytest.raises(RecipeError, match=r"^input.pathz: unknown key"):
        parse_recipe(_with(input={"pathz": ["x"]}))


def test_invalid_yaml_reports_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsteps:\n  - html_extract: {engine: [\n")
    with pytest.raises(RecipeError, match="invalid YAML"):
        load_recipe(bad)


def test_unsafe_yaml_tags_are_refused(tmp_path):
    bad = tmp_path / "evil.yaml"
    bad.write_text(
        "name: !!python/object/apply:os.system ['echo hi']\ninput: {paths: [x]}\nsteps: [html_extract]\n"
    )
    with pytest.raises(RecipeError, match="invalid YAML"):
        load_recipe(bad)


def test_overrides_set_nested_keys_and_repeated_ops_get_unique_names():
    raw = _with(steps=[{"language_id": {}}, {"language_id": {"keep": ["de"]}}])
    apply_override(raw, "steps[1].language_id.min_score=0.4")
    apply_override(raw, "output.shard_rows=10")
    recipe = parse_recipe(raw)
    assert recipe.steps[1].params == {"keep": ["de"], "min_score": 0.4}
    assert [s.name for s in recipe.steps] == ["language_id", "language_id#2"]
    assert recipe.shard_rows == 10
    with pytest.raises(RecipeError, match="PATH=VALUE"):
        apply_override(raw, "steps[0]")


def test_digest_ignores_output_path_only():
    a = parse_recipe(_with(output={"path": "a"}))
    b = parse_recipe(_with(output={"path": "b"}))
    c = parse_recipe(_with(output={"path": "a", "shard_rows": 5}))
    files = ["data/warc/demo.warc.gz"]
    assert a.digest(files) == b.digest(files) != c.digest(files)


def test_digest_covers_the_input_files_not_how_their_patterns_are_spelled(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("demo-1.jsonl", "demo-2.jsonl"):
        (folder / name).write_text('{"text": "a"}\n')
    (tmp_path / "link").symlink_to(folder)
    monkeypatch.chdir(tmp_path)

    def digest(*patterns: str) -> str:
        recipe = parse_recipe(_with(input={"paths": list(patterns)}))
        return recipe.digest(expand_paths(recipe.input_paths))

    same = digest("in/*.jsonl")
    assert digest("in/demo*.jsonl") == digest(f"{folder}/*.jsonl") == digest("link/*.jsonl") == same
    assert digest("in/demo-1.jsonl", "./in/demo-2.jsonl") == same
    assert digest("in/demo-2.jsonl", "in/demo-1.jsonl") != same  # the order decides the output's order
    assert digest("in/demo-1.jsonl") != same
