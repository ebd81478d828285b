"""Readers: every real archive reads without crashing; skipped records and broken input are counted."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.io.parquet import iter_tables
from curation.io.reader_stats import ReaderStats
from curation.io.readers import file_units, read_unit
from curation.io.units import InputError, Unit, expand_paths

BUNDLED_DEMO = "data/warc/demo.warc.gz"


def read_all(path, fmt="auto", unit_bytes=64 << 20):
    """Rows and stats over every unit of a file, as the runner would read it."""
    stats = ReaderStats()
    tables = []
    for i, (p, f, start, end, group) in enumerate(file_units(str(path), fmt, unit_bytes)):
        tables.extend(read_unit(Unit(i, p, f, start, end, group), stats, 64))
    rows = sum(t.num_rows for t in tables)
    assert stats.records == rows + sum(stats.skipped.values()) + sum(stats.errors.values())
    return tables, stats


def test_demo_warc_reads_every_response():
    tables, stats = read_all(BUNDLED_DEMO)
    assert sum(t.num_rows for t in tables) == 152
    assert dict(stats.skipped) == {"skipped_warcinfo": 1} and not stats.errors
    ids = pa.concat_tables(tables).column("id").to_pylist()
    assert len(set(ids)) == 152 and all(len(i) == 36 for i in ids)  # WARC-Record-ID uuids


def test_split_units_read_the_same_records_as_one_unit():
    whole, _ = read_all(BUNDLED_DEMO)
    parts, stats = read_all(BUNDLED_DEMO, unit_bytes=200_000)
    assert len(file_units(BUNDLED_DEMO, "auto", 200_000)) > 5
    assert (
        pa.concat_tables(parts).column("id").to_pylist() == pa.concat_tables(whole).column("id").to_pylist()
    )
    assert not stats.errors


def test_skipped_record_types_are_counted():
    tables, stats = read_all("data/warc/warcio_example.warc.gz")
    assert sum(t.num_rows for t in tables) == 1
    assert dict(stats.skipped) == {"skipped_warcinfo": 2, "skipped_request": 2, "skipped_revisit": 1}


def test_wet_conversion_records_become_text_rows():
    tables, stats = read_all("data/warc/cc_whirlwind.warc.wet.gz", fmt="wet")
    table = pa.concat_tables(tables)
    assert table.num_rows == 1 and table.column("content_type")[0].as_py() == "text/plain"
    assert b"Escopete" in table.column("payload")[0].as_py()


def test_truncated_gzip_is_an_error_not_silent_loss(tmp_path):
    data = Path(BUNDLED_DEMO).read_bytes()
    bad = tmp_path / "trunc.warc.gz"
    bad.write_bytes(data[: len(data) // 2])
    tables, stats = read_all(bad)
    assert 0 < sum(t.num_rows for t in tables) < 152
    assert dict(stats.errors) == {"truncated_stream": 1}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x1f\x8b" + bytes(range(256)) * 40, "unknown_format:unknown"),
        (bytes(range(256)) * 40, "unknown_format:unknown"),
        (gzip.compress(b"<html>not an archive</html>"), "unknown_format:unknown"),
    ],
)
def test_garbage_files_are_one_counted_error(tmp_path, content, reason):
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(content)
    tables, stats = read_all(bad)
    assert not tables and dict(stats.errors) == {reason: 1}


def test_garbage_declared_as_warc_is_counted(tmp_path):
    bad = tmp_path / "bad.warc"
    bad.write_bytes(b"\x00garbage" * 500)
    tables, stats = read_all(bad, fmt="warc")
    assert not tables and dict(stats.errors) == {"no_warc_records": 1}


def test_empty_file_reads_nothing(tmp_path):
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    tables, stats = read_all(empty)
    assert not tables and stats.records == 0


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="matches no file"):
        expand_paths([str(tmp_path / "nope-*.warc.gz")])


def test_jsonl_reader_counts_bad_lines(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "a", "text": "hello", "metadata": {"url": "http://x/"}}\nnot json\n{"id": 3}\n\n')
    tables, stats = read_all(path)
    table = pa.concat_tables(tables)
    assert table.column("id").to_pylist() == ["a"] and table.column("url").to_pylist() == ["http://x/"]
    assert dict(stats.errors) == {"bad_json": 1, "no_text_field": 1}


def test_every_shared_sample_archive_reads_without_crashing(shared, tmp_path):
    samples = shared("warc", "samples")
    expected_rows = {
        "resiliparse_cc_sample.warc.gz": 16,
        "dolma_sample-0000.warc.gz": 22,
        "ipwb_sample-1.warc.gz": 70,
        "pywb_iana.warc.gz": 48,
        "copycat_clueweb09_en0000-00.warc.gz": 23,  # WARC/0.18, a single gzip member
        "copycat_clueweb12_0000tw-00.warc.gz": 3,
        "warcio_example-iana.org-chunked.warc": 1,
        "warcio_example.arc.gz": 1,
        "copycat_cc2009_small-sample-1262850551027_8.arc": 8,
    }
    seen = set()
    for path in sorted(samples.iterdir()):
        local = tmp_path / path.name
        shutil.copy(path, local)
        tables, stats = read_all(local, unit_bytes=100_000)
        rows = sum(t.num_rows for t in tables)
        if path.name in expected_rows:
            assert rows == expected_rows[path.name], path.name
            seen.add(path.name)
        urls = [u for t in tables for u in t.column("url").to_pylist() if u]
        assert not any(u.startswith("<") for u in urls), path.name  # Dolma's samples bracket their URIs
        if path.name.startswith("ipwb_sample"):
            assert stats.skipped["skipped_revisit"] == 10
        if path.name.startswith("copycat_cc20"):  # ARC record lengths that stop warcio after the first record
            assert rows >= (140 if "cc2008" in path.name else 8) and not stats.errors
    assert seen == set(expected_rows)


def test_target_uri_in_angle_brackets_or_with_spaces_is_a_plain_url(tmp_path):
    def record(uri: str, n: int) -> bytes:
        http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>page</p>"
        head = (
            f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:{n:08d}-0000-0000-0000-000000000000>\r\n"
            f"WARC-Target-URI: {uri}\r\nContent-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http)}\r\n\r\n"
        )
        return gzip.compress(head.encode() + http + b"\r\n\r\n")

    path = tmp_path / "brackets.warc.gz"
    path.write_bytes(record("<https://a.example/x>", 1) + record("http://b.example/a b", 2))
    tables, _ = read_all(path)
    assert pa.concat_tables(tables).column("url").to_pylist() == [
        "https://a.example/x",
        "http://b.example/a%20b",
    ]


def test_arc_with_a_wrong_length_resyncs_on_the_next_record(tmp_path):
    def record(url: str, body: bytes, length: int | None = None) -> bytes:
        http = b"HTTP/1.1 200 OK\nContent-Type:text/html; charset=utf-8\n\n" + body
        return f"{url} 1.2.3.4 20080509190241 text/html {length or len(http)}\n".encode() + http + b"\n"

    desc = b"filedesc://x.arc 0.0.0.0 20080619093439 text/plain 16\n1 0 CommonCrawl\n\n"
    data = desc + record("http://a/", b"<p>first</p>") + record("http://b/", b"<p>second page</p>", 5)
    data += record("http://c/", b"<p>third</p>")
    path = tmp_path / "sample.arc"
    path.write_bytes(data)
    tables, stats = read_all(path)
    table = pa.concat_tables(tables)
    assert table.column("url").to_pylist() == ["http://a/", "http://b/", "http://c/"]
    assert table.column("content_type").to_pylist() == ["text/html", None, "text/html"]  # b was cut short
    assert dict(stats.errors) == {"arc_resync": 1} and dict(stats.skipped) == {"skipped_filedesc": 1}


def test_iter_tables_holds_one_row_group_not_the_file(tmp_path):
    """The shuffle and stage readers stream a file: Arrow memory stays near one row group, not the file size
    (pyarrow's default `pre_buffer=True` reads every row group up front)."""
    rng = np.random.default_rng(0)
    path = tmp_path / "big.parquet"
    with pq.ParquetWriter(path, pa.schema([("v", pa.uint64())])) as writer:
        for _ in range(64):  # 64 incompressible row groups of 512 KiB: a 32 MiB file
            writer.write_table(pa.table({"v": pa.array(rng.integers(0, 2**63, 1 << 16, dtype=np.uint64))}))
    size = path.stat().st_size
    before, peak, rows = pa.total_allocated_bytes(), 0, 0
    for table in iter_tables(str(path), 4096):
        peak = max(peak, pa.total_allocated_bytes() - before)
        rows += table.num_rows
    assert rows == 64 << 16
    assert peak < size // 8, (peak, size)
