"""Notes: an op's per-row decision that is neither a drop nor an error (a fallback taken), counted per step in
`stats.json` and shown by `curate report`, outside the accounting identity, through segments, stages and resume."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.dataset as pads

from curation.recipe import parse_recipe
from curation.report import funnel_table, write_report
from curation.rows import NOTE, split_marks
from curation.runner.run import run_recipe


def test_split_marks_counts_notes_on_every_row_and_removes_the_column():
    marked = pa.table(
        {
            "x": [1, 2, 3, 4],
            "_drop": [None, "short", None, None],
            "_error": [None, None, "bad", None],
            NOTE: ["fallback", "fallback", None, "other"],
        }
    )
    split = split_marks(marked, "op", rejects=True)
    assert split.notes == {"op:fallback": 2, "op:other": 1}  # the dropped row's note counts too
    assert split.dropped == {"op:short": 1} and split.errors == {"op:bad": 1}
    assert split.kept.column_names == ["x"] and split.kept.column("x").to_pylist() == [1, 4]
    assert NOTE not in split.rejects.column_names


def test_notes_from_segments_and_stages_reach_stats_and_report_and_survive_resume(ray_local, tmp_path):
    ids = range(60)
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": f"document {i}"}) + "\n" for i in ids))
    recipe = parse_recipe(
        {
            "name": "notes",
            "plugins": ["mmcurate_test_ops"],
            "input": {"paths": [str(src)]},
            "steps": [{"note_odd_rows": {"every": 3}}, {"note_odd_rows_stage": {"every": 5}}],
        }
    )
    result = run_recipe(recipe, output=str(tmp_path / "out"))
    after_segment = [i for i in ids if i % 3]
    steps = {s["step"]: s for s in result.stats["steps"]}
    assert steps["note_odd_rows"]["notes"] == {"note_odd_rows:odd": sum(i % 2 for i in ids)}
    assert steps["note_odd_rows_stage"]["notes"] == {
        "note_odd_rows_stage:odd_in_stage": sum(i % 2 for i in after_segment)
    }
    assert steps["note_odd_rows_stage"]["dropped"] == {
        "note_odd_rows_stage:multiple": sum(i % 5 == 0 for i in after_segment)
    }
    assert result.stats["totals"]["identity_holds"]  # notes are no term of it
    kept = pads.dataset(result.output / "data", format="parquet").to_table()
    assert NOTE not in kept.column_names
    assert sorted(map(int, kept.column("id").to_pylist())) == [i for i in after_segment if i % 5]
    assert "note note_odd_rows:odd" in funnel_table(result.stats)
    assert "note_odd_rows_stage:odd_in_stage" in write_report(result.output)["html"].read_text()
    resumed = run_recipe(
        recipe, output=str(tmp_path / "out"), resume=True
    )  # every phase read from its markers
    assert resumed.stats["steps"] == result.stats["steps"]


def test_funnel_table_columns_stay_aligned_with_long_names():
    """Counts line up however long a step name or a reason is."""
    long_reason = "interleaved_doc_filter:character_repetition_of_a_very_long_kind"
    stats = {
        "steps": [
            {"step": "a_step_name_longer_than_twenty_four", "in": 10, "out": 7, "dropped": {long_reason: 2},
             "errors": {"x:e": 1}, "notes": {"fell_back": 3}, "seconds": 0.5},
            {"step": "b", "in": 7, "out": 7, "dropped": {}, "errors": {}, "seconds": 0.1},
        ],
        "totals": {"input_records": 10, "output_rows": 7, "dropped": 2, "errors": 1, "identity_holds": True},
    }  # fmt: skip
    lines = funnel_table(stats).splitlines()
    step_rows = [line for line in lines[2:-2] if not line.startswith("    ")]
    reason_rows = [line for line in lines[2:-2] if line.startswith("    ")]
    assert len(step_rows) == 2 and len(reason_rows) == 3
    assert len({len(line) for line in [lines[0], *step_rows]}) == 1
    assert len({len(line) for line in reason_rows}) == 1
    assert long_reason in reason_rows[0]


def test_funnel_table_says_how_many_reasons_it_leaves_out():
    """Past the main three, one line counts the other reasons and their rows; nothing is hidden silently."""
    dropped = {"r:a": 9, "r:b": 7, "r:c": 5, "r:d": 2}
    stats = {
        "steps": [
            {"step": "s", "in": 30, "out": 6, "dropped": dropped, "errors": {"r:e": 1}, "seconds": 0.1}
        ],
        "totals": {"input_records": 30, "output_rows": 6, "dropped": 23, "errors": 1, "identity_holds": True},
    }
    table = funnel_table(stats)
    assert "r:d" not in table and "r:e" not in table
    more = [line for line in table.splitlines() if "+2 more reasons" in line]
    assert len(more) == 1 and more[0].split()[-1] == "3"
