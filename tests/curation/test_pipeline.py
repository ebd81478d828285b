"""The refinedweb recipe end to end on real WARC: accounting, output format, determinism, rejects, report."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from curation.io.shards import file_sha256
from curation.recipe import load_recipe
from curation.report import write_report
from curation.runner.run import OutputExists, run_recipe
from tests.curation.warc_craft import gz, pages, warc_record


def _check_accounting(stats: dict) -> None:
    steps = stats["steps"]
    for s in steps:
        assert s["in"] == s["out"] + sum(s["dropped"].values()) + sum(s["errors"].values()), s
    for a, b in itertools.pairwise(steps):
        assert a["out"] == b["in"], (a["step"], b["step"])
    totals = stats["totals"]
    assert totals["input_records"] == totals["output_rows"] + totals["dropped"] + totals["errors"]
    assert totals["identity_holds"]


def _rows(out) -> list[tuple]:
    table = pads.dataset(out / "data", format="parquet").to_table()
    return list(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))


def test_demo_accounting_and_manifest(demo_run):
    stats = demo_run.stats
    _check_accounting(stats)
    assert stats["totals"]["input_records"] == 153  # 152 responses + 1 warcinfo
    assert 30 < stats["totals"]["output_rows"] < 152
    by_step = {s["step"]: s for s in stats["steps"]}
    assert by_step["language_id"]["dropped"]["language_id:language"] > 40  # the demo has 70 non-English pages
    manifest = demo_run.manifest
    assert manifest["total_rows"] == stats["totals"]["output_rows"]
    assert [s["rows"] for s in manifest["shards"]][:-1] == [25] * (len(manifest["shards"]) - 1)
    for shard in manifest["shards"]:
        path = demo_run.output / shard["path"]
        assert file_sha256(path) == shard["sha256"] and pq.read_metadata(path).num_rows == shard["rows"]
    assert manifest["recipe"]["name"] == "refinedweb" and "ray" in manifest["versions"]


def test_output_loads_with_common_readers(demo_run):
    data = demo_run.output / "data"
    n = demo_run.manifest["total_rows"]
    table = pads.dataset(data, format="parquet").to_table()
    assert table.num_rows == n
    assert {"id", "url", "text", "lang", "lang_score", "warc_date", "source"} <= set(table.column_names)
    assert "_order" not in table.column_names
    assert set(table.column("lang").to_pylist()) == {"en"}
    import polars as pl

    assert pl.read_parquet(str(data / "*.parquet")).height == n
    duckdb = pytest.importorskip("duckdb")
    assert duckdb.sql(f"select count(*) from read_parquet('{data}/*.parquet')").fetchall()[0][0] == n
    datasets = pytest.importorskip("datasets")
    hf = datasets.load_dataset("parquet", data_files=str(data / "*.parquet"), split="train")
    assert hf.num_rows == n and hf[0]["text"]


def test_rejects_hold_every_dropped_row_with_its_reason(demo_run):
    rejects = pads.dataset(demo_run.output / "rejects", format="parquet").to_table()
    totals = demo_run.stats["totals"]
    assert rejects.num_rows == totals["dropped"] + totals["errors"]  # the reader's skipped records included
    reasons = set(rejects.column("reject_reason").to_pylist())
    assert {"language_id:language", "read:skipped_warcinfo"} <= reasons


def test_rejects_files_share_one_schema(demo_run):
    """Units write their rejects apart, each with the columns its rejected rows had; the run gives them one."""
    files = sorted((demo_run.output / "rejects").rglob("*.parquet"))
    assert len(files) > 1
    tables = [pq.read_table(f) for f in files]
    combined = pa.concat_tables(tables)
    assert combined.schema.names[-1] == "reject_reason"
    # url_filter's rejects are raw pages, language_id's extracted text
    assert {"payload", "text"} <= set(combined.column_names)
    import polars as pl

    scanned = pl.scan_parquet(str(demo_run.output / "rejects" / "**" / "*.parquet")).collect()
    assert scanned.height == len(combined)
    whole = pads.dataset(demo_run.output / "rejects", format="parquet").to_table()
    assert whole.schema == combined.schema
    raw = whole.filter(pc.starts_with(whole.column("reject_reason"), "url_filter:"))
    assert raw.num_rows and all(raw.column("payload").to_pylist())


def test_same_input_same_output(demo_run, tmp_path):
    recipe = load_recipe("pipelines/refinedweb.yaml", ["input.unit_bytes=1000000", "output.shard_rows=25"])
    again = run_recipe(recipe, output=str(tmp_path / "again"))
    assert _rows(again.output) == _rows(demo_run.output)  # different unit split, same rows in the same order
    assert [s["sha256"] for s in again.manifest["shards"]] == [
        s["sha256"] for s in demo_run.manifest["shards"]
    ]


def test_existing_output_needs_resume_or_overwrite(demo_run):
    recipe = load_recipe("pipelines/refinedweb.yaml")
    with pytest.raises(OutputExists, match="--resume"):
        run_recipe(recipe, output=str(demo_run.output))


def test_report_renders_table_png_and_html(demo_run):
    paths = write_report(demo_run.output)
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = paths["html"].read_text()
    assert "language_id:language" in page and "funnel.png" in page
    assert "holds" in paths["text"].read_text()


def test_bad_inputs_are_counted_and_the_job_finishes(ray_local, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    demo = Path("data/warc/demo.warc.gz").read_bytes()
    (src / "a_good.warc.gz").write_bytes(demo)
    (src / "b_truncated.warc.gz").write_bytes(demo[: len(demo) // 3])
    (src / "c_random.warc.gz").write_bytes(bytes(range(256)) * 50)
    (src / "d_empty.warc.gz").write_bytes(b"")
    (src / "e_html_no_charset.warc").write_bytes(
        _warc_with_html("Ceci est une page écrite en français.".encode("latin-1"))
    )
    recipe = load_recipe("pipelines/refinedweb.yaml", [f"input.paths=['{src}/*']"])
    result = run_recipe(recipe, output=str(tmp_path / "out"))
    _check_accounting(result.stats)
    read = result.stats["steps"][0]
    assert read["errors"] == {"truncated_stream": 1, "no_warc_records": 1}  # the recipe declares warc
    extract = next(s for s in result.stats["steps"] if s["step"] == "html_extract")
    assert not extract["errors"]


def _warc_with_html(body: bytes) -> bytes:
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = BytesIO()
    writer = WARCWriter(buf, gzip=False)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    html = b"<html><body><p>" + body + b"</p></body></html>"
    writer.write_record(
        writer.create_warc_record("http://example.fr/", "response", payload=BytesIO(html), http_headers=http)
    )
    return buf.getvalue()


def test_cli_missing_input_and_typo_fail_before_starting(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "curation.cli",
        "run",
        "pipelines/refinedweb.yaml",
        "--output",
        str(tmp_path / "o"),
    ]
    missing = subprocess.run(
        [*cmd, "--input", str(tmp_path / "none*.warc.gz")], capture_output=True, text=True
    )
    assert missing.returncode == 2 and "matches no file" in missing.stderr
    typo = subprocess.run(
        [*cmd, "--set", "steps[2].language_id.min_scor=0.5"], capture_output=True, text=True
    )
    assert (
        typo.returncode == 2 and "steps[2].language_id.min_scor" in typo.stderr and "min_score" in typo.stderr
    )
    assert not (tmp_path / "o").exists()


def test_cli_ops_lists_every_op_with_defaults():
    out = subprocess.run(
        [sys.executable, "-m", "curation.cli", "ops"], capture_output=True, text=True, check=True
    ).stdout
    for name in (
        "url_filter",
        "html_extract",
        "language_id",
        "gopher_repetition",
        "gopher_quality",
        "c4_quality",
        "fineweb_quality",
        "badwords_filter",
        "exact_dedup",
    ):
        assert f"\n{name} (" in f"\n{out}"
    assert "min_score: float = 0.65" in out


@pytest.mark.slow
def test_refinedweb_on_1307_real_pages(ray_local, shared, tmp_path):
    warc = shared("warc", "visible_pages.warc.gz")
    recipe = load_recipe("pipelines/refinedweb.yaml", [f"input.paths=['{warc}']", "input.unit_bytes=4000000"])
    result = run_recipe(recipe, output=str(tmp_path / "vp"))
    _check_accounting(result.stats)
    assert result.stats["totals"]["input_records"] == 1308
    assert result.manifest["total_rows"] > 200
    json.loads((result.output / "stats.json").read_text())
    import polars as pl

    assert pl.read_parquet(str(result.output / "data" / "*.parquet")).height == result.manifest["total_rows"]


def test_limit_reads_n_rows_per_unit_and_no_record_past_them(ray_local, tmp_path):
    """A crawl WARC (a request before each response, one gzip member per record) in several units: `limit` rows
    per unit; the request records skipped before each unit's last row count as input, none after it."""
    records = [warc_record("", b"software: crawl", kind="warcinfo")]
    for uri, block in pages(120):
        records += [warc_record(uri, b"GET / HTTP/1.1\r\n\r\n", kind="request"), warc_record(uri, block)]
    warc = tmp_path / "crawl.warc.gz"
    warc.write_bytes(b"".join(gz(r) for r in records))
    recipe = {
        "name": "crawl",
        "input": {"paths": [str(warc)], "unit_bytes": 20000},
        "steps": [{"html_extract": {}}],
    }
    path = tmp_path / "r.yaml"
    path.write_text(json.dumps(recipe))
    limit = 5
    result = run_recipe(load_recipe(path), output=str(tmp_path / "o"), limit=limit)
    _check_accounting(result.stats)
    units = len(list((result.output / "_work").glob("p00_segment/units/*.json")))
    read = result.stats["steps"][0]
    assert units >= 3 and read["out"] == units * limit
    assert read["dropped"]["skipped_warcinfo"] == 1
    assert units * (limit - 1) <= read["dropped"]["skipped_request"] <= units * limit


def test_jsonl_documents_with_limit_and_cli_report(ray_local, tmp_path):
    recipe = {
        "name": "jsonl",
        "input": {"paths": ["data/cc_text/*.jsonl.gz"]},
        "steps": [{"language_id": {"keep": ["en"]}}, {"gopher_quality": {"tag_only": True}}],
    }
    path = tmp_path / "r.yaml"
    path.write_text(json.dumps(recipe))
    from curation.cli import main

    assert main(["validate", str(path)]) == 0
    result = run_recipe(load_recipe(path), output=str(tmp_path / "o"), limit=4)
    _check_accounting(result.stats)
    assert result.stats["totals"]["input_records"] == 4
    table = pads.dataset(result.output / "data", format="parquet").to_table()
    assert "gopher_words" in table.column_names and "metadata" in table.column_names
    assert main(["report", str(result.output)]) == 0
    assert (result.output / "report.html").exists()
