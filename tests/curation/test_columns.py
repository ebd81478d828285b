"""`requires` / `provides` are checked along the recipe by `curate validate` (and before `curate run` starts): a step
that reads a column neither the reader nor an earlier step provides is an error naming the step and the column."""

from __future__ import annotations

import json

import pytest

from curation.cli import main
from curation.io.units import expand_paths
from curation.recipe import check_columns, load_recipe

DEMO_WARC = "data/warc/demo.warc.gz"  # WARC records: payload, content_type, ... but no `text`, no `image`
JSONL = "data/cc_text/dolma_ccnet_cc_en_head-0091.jsonl.gz"  # documents with `text`


def _validate(tmp_path, capsys, paths: list[str], steps: list) -> tuple[int, str]:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({"name": "cols", "input": {"paths": paths}, "steps": steps}))
    code = main(["validate", str(recipe)])
    return code, capsys.readouterr().err


def test_clip_score_before_any_image_column_fails_naming_the_step_and_column(tmp_path, capsys):
    code, err = _validate(tmp_path, capsys, [JSONL], [{"language_id": {}}, {"clip_score": {}}])
    assert code == 2
    assert "steps[1].clip_score" in err and "'image'" in err and "'caption'" in err


def test_minhash_on_a_missing_text_column_fails_naming_the_step_and_column(tmp_path, capsys):
    code, err = _validate(tmp_path, capsys, [DEMO_WARC], [{"url_filter": {}}, {"minhash_dedup": {}}])
    assert code == 2
    assert "steps[1].minhash_dedup" in err and "'text'" in err


def test_a_column_provided_by_an_earlier_step_or_a_parameter_is_followed(tmp_path, capsys):
    steps = [{"html_extract": {}}, {"minhash_dedup": {}}]  # html_extract provides `text`
    assert _validate(tmp_path, capsys, [DEMO_WARC], steps)[0] == 0
    code, err = _validate(tmp_path, capsys, [JSONL], [{"exact_dedup": {"column": "body"}}])
    assert code == 2 and "steps[0].exact_dedup" in err and "'body'" in err


@pytest.mark.parametrize("recipe", ["refinedweb", "fineweb", "datacomp_basic", "datacomp_clip", "laion2b"])
def test_shipped_recipes_pass_the_column_check(recipe, shared):
    if recipe not in ("refinedweb", "fineweb"):
        shared("images", "pairs_sample.parquet")  # the image recipes read the shared pool
    # `validate` would also load the CLIP weights, which are not here offline: check the columns alone
    loaded = load_recipe(f"pipelines/{recipe}.yaml", [])
    check_columns(loaded, expand_paths(loaded.input_paths))
