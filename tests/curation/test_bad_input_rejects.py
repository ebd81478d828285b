"""Every row a run counts as dropped or errored, the readers' included, is in `rejects/` with its reason and where
it came from: for every step the rejects equal dropped + errors in `stats.json`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from curation.recipe import load_recipe
from curation.runner.run import run_recipe
from tests.curation.warc_craft import gz, pages, warc_record

DEMO = Path("data/warc/demo.warc.gz")


def _run(tmp_path: Path, inputs: list[str], fmt: str, steps: list) -> tuple[dict, pa.Table]:
    recipe = tmp_path / "r.yaml"
    body = {
        "name": "t",
        "input": {"paths": inputs, "format": fmt},
        "output": {"rejects": True},
        "steps": steps,
    }
    recipe.write_text(json.dumps(body))
    result = run_recipe(load_recipe(str(recipe)), output=str(tmp_path / "out"))
    return result.stats, ds.dataset(tmp_path / "out" / "rejects", format="parquet").to_table()


def _assert_rejects_match_stats(stats: dict, rejects: pa.Table) -> None:
    by_step = Counter(r.split(":", 1)[0] for r in rejects.column("reject_reason").to_pylist())
    for step in stats["steps"]:
        lost = sum(step["dropped"].values()) + sum(step["errors"].values())
        assert by_step[step["step"]] == lost, step["step"]
    read = stats["steps"][0]
    reader_reasons = Counter(
        r.removeprefix("read:") for r in rejects.column("reject_reason").to_pylist() if r.startswith("read:")
    )
    assert reader_reasons == Counter(read["dropped"]) + Counter(read["errors"])


def test_broken_warc_records_reach_rejects_with_where_they_were(ray_local, tmp_path):
    (uri, block), (bad_uri, bad_block) = pages(2)
    crafted = (
        warc_record("", b"software: test\r\n", kind="warcinfo")
        + warc_record(uri, b"GET / HTTP/1.1\r\n\r\n", kind="request")
        + warc_record(bad_uri, bad_block, length_delta=7)
        + warc_record(uri, block)
    )
    (tmp_path / "crafted.warc.gz").write_bytes(gz(crafted))
    (tmp_path / "truncated.warc.gz").write_bytes(DEMO.read_bytes()[:30_000])
    (tmp_path / "random.warc.gz").write_bytes(bytes(range(256)) * 20)
    stats, rejects = _run(
        tmp_path,
        [str(tmp_path / "*.warc.gz")],
        "warc",
        [{"html_extract": {}}, {"language_id": {"keep": ["en"]}}],
    )
    _assert_rejects_match_stats(stats, rejects)
    read = {
        (Path(r["source_path"]).name, r["reject_reason"]): r
        for r in rejects.to_pylist()
        if r["reject_reason"].startswith("read:")
    }
    assert read["random.warc.gz", "read:no_warc_records"]["source_offset"] == 0
    assert ("truncated.warc.gz", "read:truncated_stream") in read
    assert read["crafted.warc.gz", "read:skipped_warcinfo"]["record_type"] == "warcinfo"
    request = read["crafted.warc.gz", "read:skipped_request"]
    assert (request["record_type"], request["url"]) == ("request", uri)
    assert request["source_offset"] is not None
    assert request["id"]  # the WARC-Record-ID
    assert ("crafted.warc.gz", "read:length_mismatch") in read


def test_failed_img2dataset_downloads_reach_rejects(ray_local, tmp_path):
    rows = {
        "key": ["0", "1", "2", "3"],
        "caption": ["a cat", "a dog", "bird", "a fish"],
        "url": [f"http://img.example/{i}.jpg" for i in range(4)],
        "status": ["success", "failed_to_download", "success", "failed_to_download"],
        "jpg": [b"\xff\xd8", None, b"\xff\xd8", None],
    }
    pq.write_table(pa.table(rows), tmp_path / "shard.parquet")
    stats, rejects = _run(
        tmp_path, [str(tmp_path / "shard.parquet")], "img2dataset", [{"caption_filter": {"min_words": 2}}]
    )
    _assert_rejects_match_stats(stats, rejects)
    skipped = [r for r in rejects.to_pylist() if r["reject_reason"] == "read:skipped_status_not_success"]
    assert [(r["id"], r["url"], r["source_offset"]) for r in skipped] == [
        ("1", "http://img.example/1.jpg", 1),
        ("3", "http://img.example/3.jpg", 3),
    ]
