"""A stage phase: run a Stage over the previous phase's rows, count its drops, write kept rows in input order."""

from __future__ import annotations

import itertools
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
    """Write one block sorted by `_order`: kept rows to `data_dir` (named by first `_order`), rejects to
    `rejects_dir`; return one summary row per file (with its `_order` range) and per reason."""
    kinds, reasons, counts, paths, lows, highs = [], [], [], [], [], []

    def add(kind: str, reason: str | None, n: int, path: str | None = None, lo: int = 0, hi: int = 0) -> None:
        for values, value in zip(
            (kinds, reasons, counts, paths, lows, highs), (kind, reason, n, path, lo, hi), strict=True
        ):
            values.append(value)

    if tag_only and DROP in batch.column_names:
        batch = batch.drop_columns([DROP])
    batch = batch.take(pc.sort_indices(batch, [(ORDER, "ascending")]))
    for kind, reason, n in _reason_rows(batch):
        add(kind, reason, n)
    kept = _select(batch, rejected=False, step=step)
    if kept.num_rows:
        lo, hi = kept.column(ORDER)[0].as_py(), kept.column(ORDER)[-1].as_py()
        path = Path(data_dir) / f"o{lo:020d}.parquet"
        write_parquet_atomic(kept, path)
        add("file", None, kept.num_rows, str(path), lo, hi)
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
            "lo": pa.array(lows, pa.int64()),
            "hi": pa.array(highs, pa.int64()),
        }
    )


def _write_blocks(ds: ray.data.Dataset, **kwargs: str | bool | None) -> list[dict]:
    return list(
        ds.map_batches(_write_block, fn_kwargs=kwargs, batch_format="pyarrow", batch_size=None).iter_rows()
    )


def _in_order(files: list[dict]) -> bool:
    """True when the files' `_order` ranges do not interleave, so file-name order is row order."""
    spans = sorted((f["lo"], f["hi"]) for f in files)
    return all(a[1] < b[0] for a, b in itertools.pairwise(spans))


def run_stage(
    step: Step, files: list[tuple[str, int]], phase_dir: Path, ctx: StageContext, rejects_dir: Path | None
) -> dict:
    """Run one Stage phase (skipped when its success marker exists); returns its summary."""
    marker = phase_dir / SUCCESS
    if marker.exists():
        return json.loads(marker.read_text())
    started = time.perf_counter()
    for stale in (phase_dir / "blocks", phase_dir / "data", rejects_dir):  # left by an interrupted attempt
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
        # Stages that mark rows in place keep each block a contiguous `_order` range: the blocks are then written
        # as they come. Only when blocks interleave (the stage shuffled rows) are the kept rows sorted globally.
        summary_rows = _write_blocks(
            marked,
            step=step.name,
            data_dir=str(phase_dir / "blocks"),
            rejects_dir=str(rejects_dir) if rejects_dir is not None else None,
            tag_only=stage.tag_only,
        )
        counted = {"dropped": stats.dropped, "errors": stats.errors}
        for row in summary_rows:
            if row["kind"] != "file":
                counted[row["kind"]][f"{step.name}:{row['reason']}"] += row["n"]
        written = [row for row in summary_rows if row["kind"] == "file"]
        if not _in_order(written):
            unsorted = ray.data.read_parquet([row["path"] for row in written]).sort(ORDER)
            written = [
                row
                for row in _write_blocks(
                    unsorted,
                    step=step.name,
                    data_dir=str(phase_dir / "data"),
                    rejects_dir=None,
                    tag_only=False,
                )
                if row["kind"] == "file"
            ]
        out_files = sorted((row["path"], row["n"]) for row in written)
    stats.seconds = time.perf_counter() - started
    stats.rows_out = sum(rows for _, rows in out_files)
    summary = {"files": out_files, "stats": stats.to_dict()}
    atomic_write_json(marker, summary)
    return summary
