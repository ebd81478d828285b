"""A run that keeps no row writes one zero-row shard with the schema its rows would have had (the same recipe's
schema when it keeps rows), listed in the manifest and loadable by every reader; resumed, it writes the same."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from curation.cli import main
from curation.io.shards import MANIFEST_NAME

SHARD = "data/part-00000.parquet"


def _run(tmp_path: Path, name: str, inputs: list[str], steps: list, *args: str, exit_code: int = 0) -> Path:
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(json.dumps({"name": "t", "input": {"paths": inputs}, "steps": steps}))
    out = tmp_path / name
    assert main(["run", str(recipe), "--output", str(out), *args]) == exit_code
    return out


def _manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text())


def _check_empty_like(empty: Path, kept: Path) -> None:
    """`empty` holds one zero-row shard with `kept`'s schema, in the manifest too, and every reader loads it."""
    manifest, reference = _manifest(empty), _manifest(kept)
    assert reference["total_rows"] > 0 and manifest["total_rows"] == 0
    assert [(s["path"], s["rows"]) for s in manifest["shards"]] == [(SHARD, 0)]
    assert manifest["schema"] == reference["schema"]
    assert manifest["stats"]["totals"]["identity_holds"]
    schema = pq.read_schema(kept / SHARD)
    assert pq.read_schema(empty / SHARD).equals(schema)
    table = pads.dataset(empty / "data", format="parquet").to_table()
    assert table.num_rows == 0 and table.schema.equals(schema)
    pl = pytest.importorskip("polars")
    frame = pl.read_parquet(str(empty / "data" / "*.parquet"))
    assert frame.height == 0 and frame.columns == schema.names
    duckdb = pytest.importorskip("duckdb")
    relation = duckdb.sql(f"select * from read_parquet('{empty}/data/*.parquet')")
    assert relation.columns == schema.names and len(relation.fetchall()) == 0


def test_filters_that_drop_every_row_leave_a_zero_row_shard_of_the_rows_schema(ray_local, tmp_path):
    """The source segment drops every row: the stages after it (one that only marks drops, one that rewrites
    its column) and the segment between them pass the schema on."""

    def steps(lang: str) -> list:
        return [
            {"html_extract": {}},
            {"language_id": {"keep": [lang]}},  # the one page in English, none in Zulu
            {"exact_dedup": {"column": "text"}},
            {"gopher_quality": {"tag_only": True}},
            {"substring_dedup": {"min_tokens": 50}},
        ]

    inputs = ["data/warc/warcio_example.warc.gz"]
    kept = _run(tmp_path, "kept", inputs, steps("en"))
    empty = _run(tmp_path, "empty", inputs, steps("zu"))
    _check_empty_like(empty, kept)
    # resume of an interrupted run that kept nothing: the last stage and the shards again, the same bytes
    first = _manifest(empty)["shards"]
    for name in (MANIFEST_NAME, "stats.json", "data"):
        shutil.rmtree(empty / name) if name == "data" else (empty / name).unlink()
    (empty / "_work" / "p03_stage_substring_dedup" / "_SUCCESS.json").unlink()
    recipe = tmp_path / "empty.yaml"
    assert main(["run", str(recipe), "--output", str(empty), "--resume"]) == 0
    assert _manifest(empty)["shards"] == first


def test_a_stage_that_drops_every_row_leaves_a_zero_row_shard_of_the_rows_schema(ray_local, tmp_path):
    """Every document is there twice, so substring_dedup cuts all its text; `min_words` then drops them all."""
    docs = tmp_path / "docs.jsonl"
    text = "a sentence of several words that repeats in the corpus, number {} of them"
    docs.write_text(
        "".join(json.dumps({"id": f"d{i}{j}", "text": text.format(i)}) + "\n" for i in range(4) for j in "ab")
    )

    def steps(min_words: int) -> list:
        return [{"substring_dedup": {"min_tokens": 5, "min_words": min_words}}]

    kept = _run(tmp_path, "kept", [str(docs)], steps(0))
    empty = _run(tmp_path, "empty", [str(docs)], steps(1000))
    assert _manifest(empty)["stats"]["steps"][-1]["dropped"] == {"substring_dedup:too_short_after_cut": 8}
    _check_empty_like(empty, kept)


def test_no_record_read_means_no_schema_and_no_shard(ray_local, tmp_path):
    """No record reached a step (every line is broken): no column can be known, so `data/` stays empty (and the
    run, whose reader errored on every record, ends with exit 1)."""
    docs = tmp_path / "docs.jsonl"
    docs.write_text("not json\n{broken\n")
    out = _run(tmp_path, "none", [str(docs)], [{"gopher_quality": {}}], exit_code=1)
    manifest = _manifest(out)
    assert (manifest["total_rows"], manifest["shards"], manifest["schema"]) == (0, [], [])
    assert manifest["stats"]["totals"]["identity_holds"]
    assert not list((out / "data").iterdir())
    assert pads.dataset(out / "data", format="parquet").to_table().num_rows == 0


def test_interleaved_stages_pass_the_documents_schema_on(ray_local, tmp_path):
    """OBELICS's order on the bundled crawl: the document filter drops every page before `attach_images` and
    `interleaved_image_dedup`, which add and rewrite image columns; the shard has the schema of the same
    recipe's documents when pages pass."""

    def steps(min_words: int) -> list:
        return [
            {"html_interleave": {}},
            {"interleaved_doc_filter": {"min_images": None, "min_words": min_words, "lang": None}},
            {"attach_images": {}},
            {"interleaved_image_dedup": {"by": ["url"]}},
        ]

    inputs = [str(Path(__file__).resolve().parents[2] / "data" / "warc" / "demo.warc.gz")]
    kept = _run(tmp_path, "kept", inputs, steps(1))
    empty = _run(tmp_path, "empty", inputs, steps(10**9))
    _check_empty_like(empty, kept)


def test_tag_only_stages_pass_the_schema_on_with_their_tag_columns(ray_local, tmp_path):
    """The quality filter drops every document before three dedup stages in tag mode: the shard has their tag
    columns (`exact_duplicate`, `url_duplicate`, `dup_cluster`, `is_duplicate`) with the types they write."""
    docs = tmp_path / "docs.jsonl"
    text = " ".join(f"word{i % 40} is one of the many words of this page" for i in range(12))
    docs.write_text(
        "".join(
            json.dumps({"id": f"d{i}", "url": f"https://x.org/{i % 3}", "text": text}) + "\n"
            for i in range(6)
        )
    )

    def steps(max_words: int) -> list:
        return [
            {"gopher_quality": {"min_doc_words": 1, "max_doc_words": max_words}},
            {"exact_dedup": {"tag_only": True}},
            {"url_dedup": {"tag_only": True}},
            {"minhash_dedup": {"tag_only": True}},
        ]

    kept = _run(tmp_path, "kept", [str(docs)], steps(100_000))
    empty = _run(tmp_path, "empty", [str(docs)], steps(2))
    assert {"exact_duplicate", "url_duplicate", "dup_cluster", "is_duplicate"} <= set(
        pq.read_schema(kept / SHARD).names
    )
    _check_empty_like(empty, kept)


def test_a_stage_without_a_tag_mode_refuses_tag_only(tmp_path):
    """`top_fraction` can only drop: `tag_only: true` would keep every row and write nothing, so it is refused."""
    from curation.recipe import RecipeError, load_recipe

    recipe = tmp_path / "r.yaml"
    steps = [{"top_fraction": {"column": "clip_score", "fraction": 0.3, "tag_only": True}}]
    recipe.write_text(json.dumps({"name": "t", "input": {"paths": [str(tmp_path)]}, "steps": steps}))
    with pytest.raises(RecipeError, match="top_fraction has no tag mode"):
        load_recipe(recipe)
