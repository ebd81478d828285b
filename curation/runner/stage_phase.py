"""A stage phase: run a Stage over the previous phase's rows, count its drops, write kept rows in input order."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import ray.data

from curation.io.shards import atomic_write_json, write_parquet_atomic
from curation.ops.base import DROP, ERROR, Stage
from curation.recipe import Step
from curation.runner.accounting import StepStats
from curation.runner.context import StageContext
from curation.runner.executor import REJECT_REASON

ORDER = "_order"
SUCCESS = "_SUCCESS.json"


def _count_and_reject(batch: pa.Table, step: str, rejects_dir: str | None) -> pa.Table:
    """Per-block counts of `_drop` and `_error` reasons (a tiny table); writes the block's rejects if asked."""
    kinds, reasons, counts = [], [], []
    for kind, col in (("dropped", DROP), ("errors", ERROR)):
        if col not in batch.column_names:
            continue
        values = batch.column(col).drop_null()
        if len(values):
            vc = pc.value_counts(values)
            for v, c in zip(vc.field("values"), vc.field("counts"), strict=True):
                kinds.append(kind)
                reasons.append(v.as_py())
                counts.append(c.as_py())
    if rejects_dir and counts:
        rejected = _select(batch, rejected=True, step=step)
        write_parquet_atomic(
            rejected, Path(rejects_dir) / f"o{pc.min(rejected.column(ORDER)).as_py():020d}.parquet"
        )
    return pa.table(
        {
            "kind": pa.array(kinds, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "n": pa.array(counts, pa.int64()),
        }
    )


def _select(batch: pa.Table, rejected: bool, step: str) -> pa.Table:
    has_drop = (
        pc.is_valid(batch.column(DROP)) if DROP in batch.column_names else pa.array([False] * batch.num_rows)
    )
    has_error = (
        pc.is_valid(batch.column(ERROR))
        if ERROR in batch.column_names
        else pa.array([False] * batch.num_rows)
    )
    bad = pc.or_(has_drop, has_error)
    internal = [c for c in (DROP, ERROR) if c in batch.column_names]
    if not rejected:
        return batch.filter(pc.invert(bad)).drop_columns(internal)
    rows = batch.filter(bad)
    reason = pc.coalesce(*[rows.column(c).cast(pa.string()) for c in (ERROR, DROP) if c in rows.column_names])
    return rows.drop_columns(internal).append_column(
        REJECT_REASON, pc.binary_join_element_wise(step, reason, ":")
    )


def _write_ordered(batch: pa.Table, out_dir: str) -> pa.Table:
    """Write a sorted block as a file named by its first `_order`, so name order is row order."""
    if batch.num_rows == 0:
        return pa.table({"path": pa.array([], pa.string()), "rows": pa.array([], pa.int64())})
    path = Path(out_dir) / f"o{batch.column(ORDER)[0].as_py():020d}.parquet"
    write_parquet_atomic(batch, path)
    return pa.table({"path": [str(path)], "rows": [batch.num_rows]})


def write_sorted(ds: ray.data.Dataset, out_dir: Path) -> list[tuple[str, int]]:
    """Sort by `_order` across the cluster and write it as name-ordered files; returns (path, rows) in order."""
    files = ds.sort(ORDER).map_batches(
        _write_ordered, fn_kwargs={"out_dir": str(out_dir)}, batch_format="pyarrow", batch_size=None
    )
    written = [(r["path"], r["rows"]) for r in files.iter_rows()]
    return sorted(written)


def run_stage(
    step: Step, files: list[tuple[str, int]], phase_dir: Path, ctx: StageContext, rejects_dir: Path | None
) -> dict:
    """Run one Stage phase (skipped when its success marker exists); returns its summary."""
    marker = phase_dir / SUCCESS
    if marker.exists():
        return json.loads(marker.read_text())
    started = time.perf_counter()
    for stale in (phase_dir / "data", rejects_dir):  # left by an interrupted attempt
        if stale is not None and stale.exists():
            shutil.rmtree(stale)
    stage = step.build()
    assert isinstance(stage, Stage)
    stage.setup()
    rows_in = sum(rows for _, rows in files)
    stats = StepStats(step.name, "stage", rows_in=rows_in)
    out_files: list[tuple[str, int]] = []
    if rows_in:
        ds = ray.data.read_parquet([path for path, _ in files])
        marked = stage.run(ds, replace(ctx, rows=rows_in)).materialize()
        counted = {"dropped": stats.dropped, "errors": stats.errors}
        reject_to = str(rejects_dir) if rejects_dir is not None and not stage.tag_only else None
        counts = marked.map_batches(
            _count_and_reject, fn_kwargs={"step": step.name, "rejects_dir": reject_to}, batch_format="pyarrow"
        )
        for row in counts.iter_rows():
            if stage.tag_only and row["kind"] == "dropped":
                continue
            counted[row["kind"]][f"{step.name}:{row['reason']}"] += row["n"]
        if stage.tag_only:
            marked = marked.map_batches(
                lambda t: t.drop_columns([c for c in (DROP,) if c in t.column_names]), batch_format="pyarrow"
            )
        if sum(stats.dropped.values()) + sum(stats.errors.values()) < rows_in:
            kept = marked.map_batches(
                _select, fn_kwargs={"rejected": False, "step": step.name}, batch_format="pyarrow"
            )
            out_files = write_sorted(kept, phase_dir / "data")
    stats.seconds = time.perf_counter() - started
    stats.rows_out = sum(rows for _, rows in out_files)
    summary = {"files": out_files, "stats": stats.to_dict()}
    atomic_write_json(marker, summary)
    return summary
