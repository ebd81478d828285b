"""exact_dedup keeps the first occurrence (input order) of each normalised text, across files and work units."""

from __future__ import annotations

import json

import pyarrow.dataset as pads

from curation.recipe import parse_recipe
from curation.runner.run import run_recipe


def test_exact_dedup_across_files_first_occurrence_kept(ray_local, tmp_path):
    a = ["Hello, World!", "unique one", "HELLO world", "another text"]
    b = ["hello world 42", "Unique one.", "fresh text", None]
    for name, texts in (("a.jsonl", a), ("b.jsonl", b)):
        rows = [{"id": f"{name}-{i}", "text": t} for i, t in enumerate(texts) if t is not None]
        rows += [{"id": f"{name}-null"}] if None in texts else []
        (tmp_path / name).write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    raw = {"name": "x", "input": {"paths": [str(tmp_path / "*.jsonl")]}, "steps": [{"exact_dedup": {}}]}
    result = run_recipe(parse_recipe(raw), output=str(tmp_path / "out"))
    kept = pads.dataset(tmp_path / "out" / "data").to_table().column("id").to_pylist()
    assert kept == ["a.jsonl-0", "a.jsonl-1", "a.jsonl-3", "b.jsonl-2"]
    stage = result.stats["steps"][-1]
    assert stage["dropped"] == {"exact_dedup:duplicate": 3}
    assert result.stats["steps"][0]["errors"] == {"no_text_field": 1}
    raw["steps"] = [{"exact_dedup": {"tag_only": True}}]
    tagged = run_recipe(parse_recipe(raw), output=str(tmp_path / "tags"))
    table = pads.dataset(tmp_path / "tags" / "data").to_table()
    assert table.num_rows == 7 and sum(table.column("exact_duplicate").to_pylist()) == 3
    assert tagged.stats["totals"]["identity_holds"]
