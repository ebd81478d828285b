"""Atomic files: published whole or not at all, and never written by a worker whose driver is gone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest

from curation.io.atomic import atomic_path
from curation.lifeline import DRIVER_ENV


def test_a_finished_block_publishes_and_a_failed_one_leaves_the_old_file(tmp_path):
    path = tmp_path / "sub" / "file.bin"
    with atomic_path(path) as tmp:
        tmp.write_bytes(b"first")
        assert not path.exists()  # nothing is visible until the block ends
    assert path.read_bytes() == b"first"
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.bin"]  # no temporary left behind


def test_a_worker_whose_driver_is_gone_exits_without_writing(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    driver = f"{socket.gethostname()}:{dead.stdout.strip()}:0.0"  # a driver that has exited
    script = textwrap.dedent(
        f"""
        import pyarrow as pa
        from pathlib import Path
        from curation.io.shards import write_parquet_atomic
        write_parquet_atomic(pa.table({{"a": [1]}}), Path({str(tmp_path / "shard.parquet")!r}))
        print("wrote")
        """
    )
    env_run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, DRIVER_ENV: driver},
    )
    assert env_run.returncode == 1 and "wrote" not in env_run.stdout
    assert list(tmp_path.iterdir()) == []
