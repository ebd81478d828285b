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


def _reason_rows(batch: pa.Table) -> list[tuple[str, str, int]]:
    """(kind, reason, count) for the `_drop` and `_error` marks of a block."""
    out = []
    for kind, col in (("dropped", DROP), ("errors", ERROR)):
        if col in batch.column_names:
            values = batch.column(col).drop_null()
            if len(values):
                vc = pc.value_counts(values)
                out.extend(
                    (kind, v.as_py(), c.as_py())
                    for v, c in zip(vc.field("values"), vc.field("counts"), strict=True)
                )
    return out


def _select(batch: pa.Table, rejected: bool, step: str) -> pa.Table:
    n = batch.num_rows
    has_drop = pc.is_valid(batch.column(DROP)) if DROP in batch.column_names else pa.array([False] * n)
    has_error = pc.is_valid(batch.column(ERROR)) if ERROR in batch.column_names else pa.array([False] * n)
    bad = pc.or_(has_drop, has_error)
    internal = [c for c in (DROP, ERROR) if c in batch.column_names]
    if not rejected:
        return batch.filter(pc.invert(bad)).drop_columns(internal)
    rows = batch.filter(bad)
    reason = pc.coalesce(*[rows.column(c).cast(pa.string()) for c in (ERROR, DROP) if c in rows.column_names])
    return rows.drop_columns(internal).append_column(
        REJECT_REASON, pc.binary_join_element_wise(step, reason, ":")
    )


def _write_block(
    batch: pa.Table, step: str, data_dir: str, rejects_dir: str | None, tag_only: bool
) -> pa.Table:
    """Write one `_order`-sorted block: kept rows to `data_dir` (named by first `_order`, so name order is row
    order), rejects to `rejects_dir`; return one summary row per file and per reason."""
    kinds, reasons, counts, paths = [], [], [], []
    if tag_only and DROP in batch.column_names:
        batch = batch.drop_columns([DROP])
    for kind, reason, n in _reason_rows(batch):
        kinds.append(kind)
        reasons.append(reason)
        counts.append(n)
        paths.append(None)
    kept = _select(batch, rejected=False, step=step)
    if kept.num_rows:
        path = Path(data_dir) / f"o{kept.column(ORDER)[0].as_py():020d}.parquet"
        write_parquet_atomic(kept, path)
        kinds.append("file")
        reasons.append(None)
        counts.append(kept.num_rows)
        paths.append(str(path))
    if rejects_dir and kept.num_rows < batch.num_rows:
        rejected = _select(batch, rejected=True, step=step)
        write_parquet_atomic(
            rejected, Path(rejects_dir) / f"o{rejected.column(ORDER)[0].as_py():020d}.parquet"
        )
    return pa.table(
        {
            "kind": pa.array(kinds, pa.string()),
            "reason": pa.array(reasons, pa.string()),
            "n": pa.array(counts, pa.int64()),
            "path": pa.array(paths, pa.string()),
        }
    )


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
        marked = stage.run(ds, replace(ctx, rows=rows_in, input_files=tuple(p for p, _ in files)))
        summary_rows = marked.sort(ORDER).map_batches(
            _write_block,
            fn_kwargs={
                "step": step.name,
                "data_dir": str(phase_dir / "data"),
                "rejects_dir": str(rejects_dir) if rejects_dir is not None else None,
                "tag_only": stage.tag_only,
            },
            batch_format="pyarrow",
            batch_size=None,
        )
        counted = {"dropped": stats.dropped, "errors": stats.errors}
        for row in summary_rows.iter_rows():
            if row["kind"] == "file":
                out_files.append((row["path"], row["n"]))
            else:
                counted[row["kind"]][f"{step.name}:{row['reason']}"] += row["n"]
        out_files.sort()
    stats.seconds = time.perf_counter() - started
    stats.rows_out = sum(rows for _, rows in out_files)
    summary = {"files": out_files, "stats": stats.to_dict()}
    atomic_write_json(marker, summary)
    return summary
