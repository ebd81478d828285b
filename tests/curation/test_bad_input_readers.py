"""Issue 18, readers: a broken record, member or line costs itself (counted), never the records after it.

Every input is crafted here; each test failed on the readers before the damage-tolerant framing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import brotli
import pytest

from curation.io.warc import record_boundaries
from tests.curation.warc_craft import gz, http_response, jsonl, pages, read_file, urls, warc_record

DEMO = Path("data/warc/demo.warc.gz")
DEMO_RESPONSES = 152


def _flip(data: bytes, start: int, count: int) -> bytes:
    out = bytearray(data)
    for i in range(count):
        out[start + 7 * i] ^= 0x5A
    return bytes(out)


def _member(data: bytes, index: int) -> tuple[int, int]:
    starts = record_boundaries(str(DEMO)) + [len(data)]
    return starts[index], starts[index + 1]


@pytest.mark.parametrize(
    ("member", "lost"), [(0, 0), (1, 1), (40, 1)]
)  # warcinfo, first response, a middle one
def test_flipped_bytes_in_one_gzip_member_cost_that_member_only(tmp_path, member, lost):
    data = DEMO.read_bytes()
    start, end = _member(data, member)
    path = tmp_path / "flipped.warc.gz"
    path.write_bytes(_flip(data, (start + end) // 2, 16))
    table, stats = read_file(path)
    assert table.num_rows == DEMO_RESPONSES - lost
    assert dict(stats.errors) == {"corrupt_gzip": 1}


def test_random_bytes_after_a_valid_gzip_header_are_one_error(tmp_path):
    records = [gz(warc_record(u, b)) for u, b in pages(4)]
    bogus = gz(b"x")[:10] + bytes(range(7, 256, 3)) * 20  # a gzip header, then noise
    path = tmp_path / "noise.warc.gz"
    path.write_bytes(b"".join(records[:2]) + bogus + b"".join(records[2:]))
    table, stats = read_file(path, fmt="warc")
    assert urls(table) == [u for u, _ in pages(4)]
    assert sum(stats.errors.values()) == 1


@pytest.mark.parametrize("compress", [False, True])
def test_huge_header_value_and_thousands_of_header_lines_lose_nothing_after_them(tmp_path, compress):
    (u0, b0), (u1, b1), (u2, b2), (u3, b3) = pages(4)
    many = {f"X-Line-{i}": "v" for i in range(10_000)}
    records = [
        warc_record(u0, b0),
        warc_record(u1, b1, extra={"WARC-Refers-To-Target-URI": "http://x/" + "a" * (1 << 20)}),
        warc_record(u2, b2, extra=many),
        warc_record(u3, b3),
    ]
    path = tmp_path / ("h.warc.gz" if compress else "h.warc")
    path.write_bytes(b"".join(gz(r) for r in records) if compress else b"".join(records))
    table, stats = read_file(path)
    assert urls(table) == [u0, u2, u3]
    assert dict(stats.errors) == {"oversized_header": 1}


@pytest.mark.parametrize("delta", [100, 1000, -7])
def test_a_content_length_that_lies_is_detected_and_the_next_record_read(tmp_path, delta):
    (u0, b0), (u1, b1), (u2, b2), (u3, b3) = pages(4)
    data = warc_record(u0, b0) + warc_record(u1, b1, length_delta=delta) + warc_record(u2, b2)
    data += warc_record(u3, b3, length_delta=delta)  # the last one runs past the end of the file
    path = tmp_path / "len.warc"
    path.write_bytes(data)
    table, stats = read_file(path)
    assert urls(table) == [u0, u2]
    assert sum(stats.errors.values()) == 2


@pytest.mark.parametrize("rewritten", [False, True])
def test_lf_only_line_endings_lose_no_record(tmp_path, rewritten):
    """Written with LF endings, or a CRLF file rewritten with LF (its lengths still count the CRs)."""
    if rewritten:
        data = b"".join(warc_record(u, b) for u, b in pages(6)).replace(b"\r\n", b"\n")
    else:
        data = b"".join(warc_record(u, b.replace(b"\r\n", b"\n"), eol="\n") for u, b in pages(6))
    path = tmp_path / "lf.warc"
    path.write_bytes(data)
    table, stats = read_file(path)
    assert urls(table) == [u for u, _ in pages(6)] and not stats.errors
    assert all(p.endswith(b"</html>") for p in table.column("payload").to_pylist())


def test_bad_and_unknown_version_lines_are_counted(tmp_path):
    (u0, b0), (u1, b1), (u2, b2), (u3, b3), (u4, b4) = pages(5)
    data = warc_record(u0, b0) + warc_record(u1, b1, version="WXRC/1.0") + warc_record(u2, b2)
    data += warc_record(u3, b3, version="WARC/9.9") + warc_record(u4, b4)
    path = tmp_path / "versions.warc"
    path.write_bytes(data)
    table, stats = read_file(path)
    assert urls(table) == [u0, u2, u4]
    assert dict(stats.errors) == {"bad_version_line": 1, "unknown_version": 1}


def test_single_member_gzip_cut_in_half_counts_its_partial_last_record(tmp_path):
    records = [(u, b) for u, b in pages(40, "long") for b in [b + b"<!--" + b"pad " * 2000 + b"-->"]]
    whole = gz(b"".join(warc_record(u, b) for u, b in records))
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(whole[: len(whole) // 2])
    table, stats = read_file(path)
    bodies = {u: b.split(b"\r\n\r\n", 1)[1] for u, b in records}
    assert 0 < table.num_rows < len(records)
    assert all(p == bodies[u] for u, p in zip(urls(table), table.column("payload").to_pylist(), strict=True))
    assert dict(stats.errors) == {"truncated_stream": 1}


def test_http_content_encodings_are_decoded_and_a_bomb_is_counted(tmp_path):
    html = b"<html><body><p>An encoded page.</p></body></html>"
    deflated = zlib.compress(html)
    bomb = gz(bytes(40 << 20))  # inflates past the 32 MiB body cap
    data = b"".join(
        warc_record(f"http://{name}.example/", http_response("", {"Content-Encoding": name}, body))
        for name, body in [
            ("gzip", gz(html)),
            ("deflate", deflated),
            ("br", brotli.compress(html)),
            ("x-gzip", bomb),
        ]
    )
    chunks = (
        b"10\r\n" + html[:16] + b"\r\n" + f"{len(html) - 16:x}\r\n".encode() + html[16:] + b"\r\n0\r\n\r\n"
    )
    data += warc_record(
        "http://chunked.example/", http_response("", {"Transfer-Encoding": "chunked"}, chunks)
    )
    path = tmp_path / "enc.warc"
    path.write_bytes(data)
    table, stats = read_file(path)
    assert table.column("payload").to_pylist() == [html, html, html, html]
    assert dict(stats.errors) == {"body_too_large": 1}
    real, _ = read_file(
        "data/warc/warcio_example.warc.gz"
    )  # a real response sent with Content-Encoding: gzip
    assert real.column("payload")[0].as_py().startswith(b"<!doctype html>")


def test_gzip_bombs_are_counted_in_bounded_memory(tmp_path):
    """A 1 GiB gzip bomb as an ARC record's body (`Content-Encoding: gzip`) and a WARC gzip member inflating to
    256 MiB of zeros between two records: each is one counted error, and the reading process stays under 2 GB."""
    script = textwrap.dedent(
        f"""
        import gzip
        from tests.curation.warc_craft import gzip_bomb, http_response, read_file, warc_record
        body = gzip_bomb(1 << 30)
        http = b"HTTP/1.1 200 OK\\r\\nContent-Type: text/html\\r\\nContent-Encoding: gzip\\r\\n\\r\\n" + body
        ok = b"HTTP/1.1 200 OK\\r\\nContent-Type: text/html\\r\\n\\r\\n<p>fine</p>"
        desc = b"filedesc://x.arc 0.0.0.0 20080619093439 text/plain 16\\n1 0 CommonCrawl\\n\\n"
        arc = desc + b"http://bomb/ 1.2.3.4 20080509190241 text/html %d\\n" % len(http) + http + b"\\n"
        arc += b"http://ok/ 1.2.3.4 20080509190241 text/html %d\\n" % len(ok) + ok + b"\\n"
        open({str(tmp_path / "bomb.arc")!r}, "wb").write(arc)
        table, stats = read_file({str(tmp_path / "bomb.arc")!r})
        print(table.column("url").to_pylist(), dict(stats.errors))
        good = [gzip.compress(warc_record(f"http://{{i}}.example/", http_response("ok"))) for i in range(2)]
        open({str(tmp_path / "bomb.warc.gz")!r}, "wb").write(good[0] + gzip_bomb(256 << 20) + good[1])
        table, stats = read_file({str(tmp_path / "bomb.warc.gz")!r})
        print(table.column("url").to_pylist(), dict(stats.errors))
        # VmHWM is this process's own peak: ru_maxrss would carry the parent's (pytest's) RSS over vfork + exec
        print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    arc, warc, peak_kib = out.stdout.strip().splitlines()[-3:]
    assert arc == "['http://ok/'] {'body_too_large': 1}"
    assert warc == "['http://0.example/', 'http://1.example/'] {'padding_between_records': 1}"
    assert int(peak_kib) < 2 << 20  # VmHWM is in KiB: under 2 GiB


def test_jsonl_with_a_bom_or_a_garbage_first_line_reads_every_document(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + jsonl(30))
    (tmp_path / "garbage.jsonl.gz").write_bytes(gz(b"\x00\x17 not json at all\n" + jsonl(30)))
    bom, bom_stats = read_file(tmp_path / "bom.jsonl")
    garbage, garbage_stats = read_file(tmp_path / "garbage.jsonl.gz")
    assert bom.num_rows == 30 and not bom_stats.errors
    assert garbage.num_rows == 30 and dict(garbage_stats.errors) == {"bad_json": 1}


def test_jsonl_deep_nesting_and_lone_surrogates_are_counted_lines(tmp_path):
    lines = jsonl(3).splitlines(keepends=True)
    nested = b'{"id": "deep", "text": "x", "a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    surrogate = json.dumps({"id": "s", "text": "bad \ud800 text"}).encode() + b"\n"
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(lines[0] + nested + lines[1] + surrogate + lines[2])
    table, stats = read_file(path)
    assert table.column("id").to_pylist() == ["d0", "d1", "d2"]
    assert dict(stats.errors) == {"bad_json": 1, "invalid_unicode": 1}
