"""`unify_rejects`: one schema for every file of a `rejects/` folder, found from the footers; only the files that
differ are rewritten, a row group at a time, so the driver's memory does not grow with a file's size."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from curation.io.rejects import unify_rejects
from curation.io.shards import write_parquet_atomic
from curation.rows import REJECT_REASON
from tests.conftest import REPO


def _rejects(n: int, start: int = 0, **columns: pa.Array) -> pa.Table:
    ids = pa.array([f"r{i}" for i in range(start, start + n)])
    return pa.table({"id": ids, **columns, REJECT_REASON: pa.array(["step:rule"] * n)})


def test_files_get_one_schema_and_only_those_that_differ_are_rewritten(tmp_path):
    early, late, union, empty = (tmp_path / "p00" / f"{n}.parquet" for n in ("a", "b", "c", "d"))
    n = 20_000  # three row groups
    write_parquet_atomic(_rejects(n, payload=pa.array([b"x"] * n)), early)
    write_parquet_atomic(_rejects(3, n, text=pa.array(["t"] * 3), lang=pa.nulls(3)), late)
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("payload", pa.binary()),
            ("text", pa.string()),
            ("lang", pa.string()),
            (REJECT_REASON, pa.string()),
        ]
    )
    write_parquet_atomic(pa.table({f.name: pa.nulls(2, f.type) for f in schema}, schema=schema), union)
    write_parquet_atomic(_rejects(0, text=pa.array([], pa.string())), empty)
    untouched = union.stat()
    assert unify_rejects(tmp_path).equals(schema)
    assert union.stat().st_ino == untouched.st_ino and union.stat().st_mtime_ns == untouched.st_mtime_ns
    for path in (early, late, union, empty):
        assert pq.read_schema(path).remove_metadata().equals(schema)
    assert pq.ParquetFile(early).num_row_groups == 3
    table = pads.dataset(tmp_path, format="parquet").to_table()
    assert table.num_rows == n + 3 + 2
    got = pq.read_table(early)
    assert got.column("id").to_pylist() == [f"r{i}" for i in range(n)]
    assert got.column("payload").null_count == 0 and got.column("text").null_count == n


def test_a_large_file_is_rewritten_a_row_group_at_a_time(tmp_path):
    """Unifying a file of 32 row groups (128 MiB of payload in memory) takes a few row groups of arrow memory (the
    peak of a fresh process that does only that), not the file's."""
    groups, rows, width = 32, 8192, 512
    big = tmp_path / "p00" / "big.parquet"
    big.parent.mkdir()
    group = _rejects(rows, payload=pa.array([b"y" * width] * rows))
    with pq.ParquetWriter(big, group.schema, compression="zstd") as writer:
        for _ in range(groups):
            writer.write_table(group)
    write_parquet_atomic(_rejects(1, text=pa.array(["t"])), tmp_path / "p01" / "small.parquet")
    script = (
        "import sys, pyarrow as pa; from curation.io.rejects import unify_rejects; "
        "unify_rejects(sys.argv[1]); print(pa.default_memory_pool().max_memory())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert int(done.stdout) < groups * rows * width / 8
    assert pq.read_schema(big).names == ["id", "payload", "text", REJECT_REASON]
    assert pq.ParquetFile(big).num_row_groups == groups and pq.read_metadata(big).num_rows == groups * rows
