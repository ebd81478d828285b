"""A stage phase: run a Stage over the previous phase's rows, count its drops, write kept rows in input order."""

from __future__ import annotations

import itertools
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray.data

from curation.dedup.stage_input import order_bounds
from curation.io.parquet import iter_tables
from curation.io.shards import atomic_write_json, write_parquet_atomic
from curation.ops.base import DROP, ERROR, Stage
from curation.recipe import Step
from curation.runner.accounting import StepStats
from curation.runner.context import StageContext
from curation.runner.executor import REJECT_REASON
from curation.runner.memory import release_memory

ORDER = "_order"
SUCCESS = "_SUCCESS.json"
BLOCK_BYTES = 16 << 20  # target block size of a stage's input: memory per task does not grow with the input
READ_ROWS = 8192  # rows per read batch of an input file


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


def _runs(orders: np.ndarray, starts: list[int]) -> list[tuple[int, int]]:
    """(offset, length) of the runs of sorted `orders` that fall in one input file (files begin at `starts`)."""
    part = np.searchsorted(np.asarray(sorted(starts)[1:], np.int64), orders, side="right")
    edges = [0, *(np.flatnonzero(np.diff(part)) + 1).tolist(), len(orders)]
    return [(a, b - a) for a, b in itertools.pairwise(edges)]


def _write_block(
    batch: pa.Table, step: str, data_dir: str, rejects_dir: str | None, tag_only: bool, starts: list[int]
) -> pa.Table:
    """Write one block sorted by `_order`: kept rows to `data_dir`, one file per input file they came from (named
    by first `_order`), rejects to `rejects_dir`; return one summary row per file (with its `_order` range) and
    per reason. A block may hold rows of several input files, but one input file's rows are read in order, so
    the files written from all blocks do not interleave."""
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
    orders = kept.column(ORDER).to_numpy()
    for offset, length in _runs(orders, starts) if kept.num_rows else []:
        lo, hi = int(orders[offset]), int(orders[offset + length - 1])
        path = Path(data_dir) / f"o{lo:020d}.parquet"
        write_parquet_atomic(kept.slice(offset, length), path)
        add("file", None, length, str(path), lo, hi)
    if rejects_dir and kept.num_rows < batch.num_rows:
        rejected = _select(batch, rejected=True, step=step)
        write_parquet_atomic(
            rejected, Path(rejects_dir) / f"o{rejected.column(ORDER)[0].as_py():020d}.parquet"
        )
    release_memory()
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


def _read_file(item: dict[str, np.ndarray]) -> Iterator[pa.Table]:
    """The rows of the parquet file(s) of a batch of paths, `READ_ROWS` at a time."""
    for path in item["item"]:
        yield from iter_tables(path, READ_ROWS)


def read_files(paths: list[str]) -> ray.data.Dataset:
    """The rows of `paths`: one task per file, read batch by batch, in blocks of at most `BLOCK_BYTES`.

    (`ray.data.read_parquet` hands all the files of a small listing to one task, whose memory then grows with the
    input.)
    """
    ds = ray.data.from_items(paths, override_num_blocks=len(paths)).map_batches(
        _read_file, batch_size=1, batch_format="numpy"
    )
    ds.context.target_max_block_size = BLOCK_BYTES
    return ds


def _write_blocks(ds: ray.data.Dataset, **kwargs: str | bool | list[int] | None) -> list[dict]:
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
        ds = read_files([path for path, _ in files])
        marked = stage.run(ds, replace(ctx, rows=rows_in, input_files=tuple(p for p, _ in files)))
        # Stages that mark rows in place keep each input file's rows in order: every block is written as it comes,
        # one file per input file it holds. Only when those interleave (the stage shuffled rows) are the kept rows
        # sorted globally.
        summary_rows = _write_blocks(
            marked,
            step=step.name,
            data_dir=str(phase_dir / "blocks"),
            rejects_dir=str(rejects_dir) if rejects_dir is not None else None,
            tag_only=stage.tag_only,
            starts=[lo for lo, _ in order_bounds([path for path, _ in files])],
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
                    starts=[],
                )
                if row["kind"] == "file"
            ]
        out_files = sorted((row["path"], row["n"]) for row in written)
    stats.seconds = time.perf_counter() - started
    stats.rows_out = sum(rows for _, rows in out_files)
    summary = {"files": out_files, "stats": stats.to_dict()}
    atomic_write_json(marker, summary)
    return summary
