"""Bounded output passes: blocks split per input file, label lookups that read only the files they need."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.dedup.marking import roots_of
from curation.io.shards import write_parquet_atomic
from curation.runner.stage_phase import _runs


def test_a_block_of_several_input_files_is_cut_at_their_boundaries() -> None:
    starts = [200, 0, 100]  # input files begin at 0, 100 and 200 (in any order)
    orders = np.array([3, 7, 99, 100, 150, 250, 251])
    assert _runs(orders, starts) == [(0, 3), (3, 2), (5, 2)]
    assert _runs(orders, []) == [(0, 7)]


def test_roots_read_only_the_label_files_holding_a_key(tmp_path: Path) -> None:
    path = tmp_path / "labels0.parquet"
    write_parquet_atomic(
        pa.table({"src": pa.array([5, 9], pa.int64()), "dst": pa.array([1, 1], pa.int64())}), path
    )
    labels = [(str(path), 5, 9), (str(tmp_path / "never_read.parquet"), 100, 200)]
    assert roots_of(pa.array([1, 5, 7, 9, 99, 201], pa.int64()), labels).to_pylist() == [
        None,
        1,
        None,
        1,
        None,
        None,
    ]
    assert roots_of(pa.array([], pa.int64()), labels).to_pylist() == []
