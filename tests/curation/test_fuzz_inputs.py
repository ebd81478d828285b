"""Issue 18: seeded mutants of real WARC, WET, JSONL and parquet inputs from `data/` (truncation, byte flips,
zeroed runs, inserted garbage, lying lengths, line-ending and text-encoding changes). For every mutant: no
exception, the reader identity (records = rows + skipped + errors), every record the mutation did not touch is
read, and fewer rows than the original is never silent. A few mutants also go through whole runs."""

from __future__ import annotations

import gzip
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.io.warc import record_boundaries
from curation.recipe import load_recipe
from curation.runner.run import run_recipe
from tests.curation.warc_craft import read_file

SEED = 18
DEMO = Path("data/warc/demo.warc.gz")
DOLMA = Path("data/cc_text/dolma_ccnet_cc_en_head-0091.jsonl.gz")
_RECORD_ID = re.compile(rb"WARC-Record-ID: <urn:uuid:([0-9a-f-]+)>")


@dataclass
class Base:
    """An input and what it holds: per record, its byte range and its row id (None: not a row)."""

    name: str
    data: bytes
    records: list[tuple[int, int, str | None]]
    exact: bool  # byte ranges are exact, so untouched records can be checked one by one


def _warc_records(plain: bytes, starts: list[int]) -> list[tuple[int, int, str | None]]:
    out = []
    for start, end in zip(starts, [*starts[1:], len(plain)], strict=True):
        head = plain[start : plain.find(b"\r\n\r\n", start)]
        rid = _RECORD_ID.search(head)
        out.append((start, end, rid.group(1).decode() if rid and b"WARC-Type: response" in head else None))
    return out


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> list[Base]:
    demo = DEMO.read_bytes()
    cuts = record_boundaries(str(DEMO))[:26]
    members = demo[: cuts[-1]]  # warcinfo + 24 responses, one gzip member each
    plains = [gzip.decompress(members[a:b]) for a, b in zip(cuts, cuts[1:], strict=False)]
    plain = b"".join(plains)
    plain_starts = [sum(len(p) for p in plains[:i]) for i in range(len(plains))]
    by_plain = _warc_records(plain, plain_starts)
    by_member = [
        (a, b, rec[2]) for (a, b), rec in zip(zip(cuts, cuts[1:], strict=False), by_plain, strict=True)
    ]
    lines = gzip.decompress(DOLMA.read_bytes()).splitlines(keepends=True)
    line_ranges, pos = [], 0
    for line in lines:
        line_ranges.append((pos, pos + len(line), json.loads(line)["id"]))
        pos += len(line)
    jsonl = b"".join(lines)
    folder = tmp_path_factory.mktemp("parquet")
    docs = [json.loads(line) for line in lines]
    pq.write_table(
        pa.table({"id": [d["id"] for d in docs], "text": [d["text"] for d in docs]}),
        folder / "d.parquet",
        row_group_size=3,
    )
    wet = Path("data/warc/cc_whirlwind.warc.wet.gz").read_bytes()
    return [
        Base("members.warc.gz", members, by_member, True),
        Base("plain.warc", plain, by_plain, True),
        Base("single.warc.gz", gzip.compress(plain, mtime=0), by_plain, False),
        Base("whirlwind.warc.wet.gz", wet, [], False),
        Base("docs.jsonl", jsonl, line_ranges, True),
        Base("docs.jsonl.gz", gzip.compress(jsonl, mtime=0), line_ranges, False),
        Base("docs.parquet", (folder / "d.parquet").read_bytes(), [], False),
    ]


def mutate(base: Base, rng: random.Random) -> tuple[bytes, list[tuple[int, int]], str]:
    """(mutant, byte ranges of the original it touched, what was done); ranges are of the original's bytes."""
    data, n = base.data, len(base.data)
    kind = rng.choice(["truncate", "flip", "zero", "insert", "length", "newlines", "encoding"])
    if kind == "length" and base.name == "plain.warc":
        spots = [m.start(1) for m in re.finditer(rb"Content-Length: (\d+)", data)]
        at = rng.choice(spots)
        digits = re.match(rb"\d+", data[at:]).group()
        value = str(max(0, int(digits) + rng.choice([-1000, -7, -1, 1, 100, 1000]))).encode()
        return data[:at] + value + data[at + len(digits) :], [(at, at + len(digits))], kind
    if kind == "newlines" and base.name in ("plain.warc", "docs.jsonl"):
        return data.replace(b"\r\n", b"\n"), [(0, n)], kind
    if kind == "encoding" and base.name == "docs.jsonl":
        text = data.decode()
        return (
            (text.encode("utf-16") if rng.random() < 0.5 else text.encode("latin-1", "replace")),
            [(0, n)],
            kind,
        )
    if kind == "truncate":
        cut = rng.randrange(n)
        return data[:cut], [(cut, n)], kind
    if kind == "zero":
        at, size = rng.randrange(n), rng.randint(1, 64)
        return data[:at] + bytes(size) + data[at + size :], [(at, at + size)], kind
    if kind == "insert":
        at = rng.randrange(n)
        junk = rng.choice(
            [bytes(rng.randrange(256) for _ in range(rng.randint(1, 200))), b"WARC/1.0\r\n", b"\x1f\x8b\x08"]
        )
        return data[:at] + junk + data[at:], [(at, at + 1)], kind
    out = bytearray(data)
    spots = [rng.randrange(n) for _ in range(rng.randint(1, 32))]
    for at in spots:
        out[at] ^= rng.randint(1, 255)
    return bytes(out), [(at, at + 1) for at in spots], "flip"


def _touched(start: int, end: int, ranges: list[tuple[int, int]]) -> bool:
    return any(a < end and b > start for a, b in ranges)


def test_readers_survive_seeded_mutants_of_real_inputs(bases, tmp_path):
    rng = random.Random(SEED)
    originals = {}
    for base in bases:
        (tmp_path / base.name).write_bytes(base.data)
        table, stats = read_file(tmp_path / base.name)
        originals[base.name] = (0 if table is None else table.num_rows, sum(stats.skipped.values()))
    plan = {"members.warc.gz": 60, "plain.warc": 60, "single.warc.gz": 20, "whirlwind.warc.wet.gz": 10}
    plan |= {"docs.jsonl": 30, "docs.jsonl.gz": 10, "docs.parquet": 20}
    mutants = 0
    for base in bases:
        for i in range(plan[base.name]):
            mutant, touched, kind = mutate(base, rng)
            path = tmp_path / f"m{i}-{base.name}"
            path.write_bytes(mutant)
            where = f"{path.name} ({kind})"
            table, stats = read_file(path)  # no exception, and the reader identity holds
            rows = 0 if table is None else table.num_rows
            rows0, skipped0 = originals[base.name]
            if rows < rows0:  # fewer rows is never silent
                assert sum(stats.errors.values()) or sum(stats.skipped.values()) > skipped0, where
            if base.exact and kind in ("truncate", "flip", "zero", "insert", "length"):
                ids = set() if table is None else set(table.column("id").to_pylist())
                lost = [
                    rid
                    for start, end, rid in base.records
                    if rid
                    and not _touched(start, end, touched)
                    and not (kind == "truncate" and end > touched[0][0])
                ]
                lost = [rid for rid in lost if rid not in ids]
                assert not lost, (where, lost)
            mutants += 1
            path.unlink()
    assert mutants >= 200


@pytest.mark.slow
def test_whole_runs_over_mutants_account_for_every_record(ray_local, bases, tmp_path):
    rng = random.Random(SEED + 1)
    for fmt, names, steps in [
        ("warc", ("members.warc.gz", "plain.warc", "single.warc.gz"), [{"html_extract": {}}]),
        ("jsonl", ("docs.jsonl", "docs.jsonl.gz"), [{"gopher_quality": {"tag_only": True}}]),
    ]:
        src = tmp_path / fmt
        src.mkdir()
        expected_records = 0
        for base in (b for b in bases if b.name in names):
            for i in range(2):
                mutant, _, _ = mutate(base, rng)
                (src / f"m{i}-{base.name}").write_bytes(mutant)
                expected_records += read_file(src / f"m{i}-{base.name}")[1].records
        recipe = tmp_path / f"{fmt}.yaml"
        recipe.write_text(json.dumps({"name": fmt, "input": {"paths": [f"{src}/*"]}, "steps": steps}))
        result = run_recipe(load_recipe(recipe), output=str(tmp_path / f"out-{fmt}"))
        totals = result.stats["totals"]
        assert totals["identity_holds"] and totals["input_records"] == expected_records
