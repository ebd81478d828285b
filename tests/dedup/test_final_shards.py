"""The streaming final-shard writer: same bytes as writing the concatenated slices in one go."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.shards import write_parquet_atomic, write_shard
from curation.runner.finalize import plan_shards, write_slices


def _phase_files(folder: Path) -> list[tuple[str, int]]:
    """Ordered phase files with several row groups, a column missing from one and a null-typed one in another."""
    tables = [
        pa.table(
            {"_order": range(0, 20000), "text": [f"doc {i}" for i in range(20000)], "score": [0.5] * 20000}
        ),
        pa.table({"_order": range(20000, 23000), "text": [f"doc {i}" for i in range(20000, 23000)]}),
        pa.table({"_order": range(23000, 40000), "text": [None] * 17000, "score": pa.nulls(17000)}),
    ]
    files = []
    for i, table in enumerate(tables):
        path = folder / f"o{i:05d}.parquet"
        write_parquet_atomic(table, path, row_group_rows=5000 + 1000 * i)
        files.append((str(path), table.num_rows))
    return files


def _in_memory(slices: list[tuple[str, int, int]], out_dir: Path, index: int):  # the writer before streaming
    parts = [pq.read_table(path).slice(offset, length) for path, offset, length in slices]
    table = pa.concat_tables(parts, promote_options="default").drop_columns(["_order"])
    return write_shard(table.combine_chunks(), out_dir, index)


def test_streamed_shards_match_the_concatenated_table(tmp_path: Path) -> None:
    files = _phase_files(tmp_path / "phase")
    plan = plan_shards(files, 11000)
    assert len(plan) == 4 and any(len(s) > 1 for s in plan)
    for index, slices in enumerate(plan):
        streamed = write_slices(slices, tmp_path / "new", index)
        expected = _in_memory(slices, tmp_path / "old", index)
        assert streamed.rows == expected.rows
        assert streamed.sha256 == expected.sha256
        assert (tmp_path / "new" / streamed.path).read_bytes() == (
            tmp_path / "old" / expected.path
        ).read_bytes()
    assert sum(s.rows for s in (write_slices(p, tmp_path / "x", i) for i, p in enumerate(plan))) == 40000
