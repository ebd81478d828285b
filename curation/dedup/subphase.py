"""Resumable sub-phases of a dedup stage: a dataset persisted as parquet under the stage's work dir.

`<work_dir>/<name>/data/*.parquet` plus `<work_dir>/<name>/_SUCCESS.json` (row count and any metadata).
A sub-phase whose marker exists is not recomputed; one without it is cleared and computed from scratch.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray.data

from curation.io.shards import atomic_write_json

SUCCESS = "_SUCCESS.json"


def done(work_dir: Path, name: str) -> dict | None:
    """The marker of a finished sub-phase, or None."""
    marker = work_dir / name / SUCCESS
    return json.loads(marker.read_text()) if marker.exists() else None


def persist(
    work_dir: Path,
    name: str,
    build: Callable[[], ray.data.Dataset],
    meta: Callable[[Path], dict] | None = None,
) -> dict:
    """Write `build()` to `<work_dir>/<name>/data` unless already done; returns the marker (`rows`, `path`, meta)."""
    finished = done(work_dir, name)
    if finished is not None:
        return finished
    folder = work_dir / name
    if folder.exists():
        shutil.rmtree(folder)
    data = folder / "data"
    build().write_parquet(str(data))
    files = sorted(data.glob("*.parquet")) if data.exists() else []
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    marker = {"rows": rows, "path": str(data), **(meta(data) if meta and rows else {})}
    atomic_write_json(folder / SUCCESS, marker)
    return marker


def read(marker: dict) -> ray.data.Dataset:
    """The persisted dataset of a non-empty sub-phase."""
    return ray.data.read_parquet(marker["path"])


def status_counts(path: Path) -> dict:
    """`{"status": {value: rows}}` of the `status` column of a persisted sub-phase (tiny per-block counts)."""

    def count(batch: pa.Table) -> pa.Table:
        vc = pc.value_counts(batch.column("status")) if batch.num_rows else None
        if vc is None:
            return pa.table({"status": pa.array([], pa.string()), "n": pa.array([], pa.int64())})
        return pa.table({"status": vc.field("values"), "n": vc.field("counts")})

    totals: dict[str, int] = {}
    for row in (
        ray.data.read_parquet(str(path), columns=["status"])
        .map_batches(count, batch_format="pyarrow")
        .iter_rows()
    ):
        totals[row["status"]] = totals.get(row["status"], 0) + row["n"]
    return {"status": totals}
