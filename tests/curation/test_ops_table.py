"""The README's op table is generated from the registry (`curate ops --markdown`); it must not drift."""

from __future__ import annotations

from pathlib import Path

from curation.ops.catalog import TABLE_BEGIN, TABLE_END, markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_op_table_equals_the_generated_one():
    text = README.read_text()
    table = text[text.index(TABLE_BEGIN) + len(TABLE_BEGIN) : text.index(TABLE_END)].strip()
    assert table == markdown_table(), "README op table drifted: paste the output of `curate ops --markdown`"
    assert "| `top_fraction` | stage | `clip_score` |" in table  # every registered op, with its columns


def test_plugin_ops_a_recipe_loaded_stay_out_of_the_table(monkeypatch):
    from curation.recipe import parse_recipe

    monkeypatch.syspath_prepend(str(README.parent / "tests" / "plugins"))
    parse_recipe(
        {
            "name": "p",
            "plugins": ["mmcurate_test_ops"],
            "input": {"paths": ["x"]},
            "steps": [{"record_builds": {}}],
        }
    )
    assert "`record_builds`" not in markdown_table()
