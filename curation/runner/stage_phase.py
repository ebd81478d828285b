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
import pyarrow.parquet as pq
import ray.data

from curation.io.parquet import iter_tables
from curation.io.shards import atomic_write_json, write_parquet_atomic
from curation.ops.base import Stage
from curation.recipe import Step
from curation.rows import ORDER, split_marks
from curation.runner.accounting import StepStats
from curation.runner.progress import Progress
from curation.stagekit.context import StageContext
from curation.stagekit.input import order_bounds
from curation.stagekit.memory import release_memory

SUCCESS = "_SUCCESS.json"
EMPTY = "empty.parquet"  # a stage that got no row: a zero-row file of the schema its kept rows would have
BLOCK_BYTES = 16 << 20  # target block size of a stage's input: memory per task does not grow with the input
READ_ROWS = 8192  # rows per read batch of an input file


def _runs(orders: np.ndarray, starts: list[int]) -> list[tuple[int, int]]:
    """(offset, length) of the runs of sorted `orders` that fall in one input file (files begin at `starts`)."""
    part = np.searchsorted(np.asarray(sorted(starts)[1:], np.int64), orders, side="right")
    edges = [0, *(np.flatnonzero(np.diff(part)) + 1).tolist(), len(orders)]
    return [(a, b - a) for a, b in itertools.pairwise(edges)]


def _write_block(
    batch: pa.Table, step: str, data_dir: str, rejects_dir: str | None, tag_only: bool, starts: list[int]
) -> pa.Table:
    """Write one block sorted by `_order`: kept rows to `data_dir`, one file per input file they came from (named
    by first `_order`), rejects to `rejects_dir`; return one summary row per file (with its `_order` range), per
    reason and per note. A block may hold rows of several input files, but one input file's rows are read in
    order, so the files written from all blocks do not interleave. A block that keeps none of its rows writes
    a zero-row file of their schema instead (kind `empty`: a stage that keeps no row passes on a schema)."""
    kinds, reasons, counts, paths, lows, highs = [], [], [], [], [], []

    def add(kind: str, reason: str | None, n: int, path: str | None = None, lo: int = 0, hi: int = 0) -> None:
        for values, value in zip(
            (kinds, reasons, counts, paths, lows, highs), (kind, reason, n, path, lo, hi), strict=True
        ):
            values.append(value)

    batch = batch.take(pc.sort_indices(batch, [(ORDER, "ascending")]))
    split = split_marks(batch, step, drops=not tag_only, rejects=rejects_dir is not None)
    for kind, tally in (("dropped", split.dropped), ("errors", split.errors), ("notes", split.notes)):
        for reason, n in tally.items():
            add(kind, reason, n)
    kept = split.kept
    orders = kept.column(ORDER).to_numpy()
    for offset, length in _runs(orders, starts) if kept.num_rows else []:
        lo, hi = int(orders[offset]), int(orders[offset + length - 1])
        path = Path(data_dir) / f"o{lo:020d}.parquet"
        write_parquet_atomic(kept.slice(offset, length), path)
        add("file", None, length, str(path), lo, hi)
    if batch.num_rows and not kept.num_rows:
        first = batch.column(ORDER)[0].as_py()
        path = Path(data_dir) / f"e{first:020d}.parquet"
        write_parquet_atomic(kept, path)
        add("empty", None, 0, str(path), first, first)
    if split.rejects is not None:
        first = split.rejects.column(ORDER)[0].as_py()
        write_parquet_atomic(split.rejects, Path(rejects_dir) / f"o{first:020d}.parquet")
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


def _write_blocks(
    ds: ray.data.Dataset, progress: Progress | None = None, **kwargs: str | bool | list[int] | None
) -> list[dict]:
    """Write every block of `ds` (`_write_block`); `progress` advances by the rows each block accounted for."""
    rows = []
    for row in ds.map_batches(
        _write_block, fn_kwargs=kwargs, batch_format="pyarrow", batch_size=None
    ).iter_rows():
        rows.append(row)
        # a noted row is also counted as kept, dropped or errored: notes do not advance the progress
        if progress is not None and row["kind"] != "notes":
            progress.advance(row["n"], row["n"] if row["kind"] == "file" else 0)
    return rows


def _in_order(files: list[dict]) -> bool:
    """True when the files' `_order` ranges do not interleave, so file-name order is row order."""
    spans = sorted((f["lo"], f["hi"]) for f in files)
    return all(a[1] < b[0] for a, b in itertools.pairwise(spans))


def run_stage(
    step: Step,
    files: list[tuple[str, int]],
    phase_dir: Path,
    ctx: StageContext,
    rejects_dir: Path | None,
    progress: Progress | None = None,
) -> dict:
    """Run one Stage phase (skipped when its success marker exists); returns its summary. `progress` counts the
    rows accounted for (kept, dropped or errored) as the marked blocks are written."""
    marker = phase_dir / SUCCESS
    rows_in = sum(rows for _, rows in files)
    summary = json.loads(marker.read_text()) if marker.exists() else None
    if progress is not None:
        kept = summary["stats"]["out"] if summary else 0
        progress.start(phase_dir.name, rows_in, "rows", done=rows_in if summary else 0, rows=kept)
    if summary is not None:
        return summary
    started = time.perf_counter()
    for stale in (phase_dir / "blocks", phase_dir / "data", rejects_dir):  # left by an interrupted attempt
        if stale is not None and stale.exists():
            shutil.rmtree(stale)
    stage = step.build()
    assert isinstance(stage, Stage)
    stage.setup()
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
            progress,
            step=step.name,
            data_dir=str(phase_dir / "blocks"),
            rejects_dir=str(rejects_dir) if rejects_dir is not None else None,
            tag_only=stage.tag_only,
            starts=[lo for lo, _ in order_bounds([path for path, _ in files])],
        )
        counted = {"dropped": stats.dropped, "errors": stats.errors, "notes": stats.notes}
        for row in summary_rows:
            if row["kind"] in counted:
                counted[row["kind"]][row["reason"]] += row["n"]
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
        empties = sorted((row["lo"], row["path"]) for row in summary_rows if row["kind"] == "empty")
        if not out_files and empties:  # the schema of the rows, from the block that holds the first of them
            out_files = [(empties[0][1], 0)]
    elif files and (schema := stage.kept_schema(pq.read_schema(files[0][0]))) is not None:
        # no row reached this stage, but a zero-row file carries their schema: pass on the stage's, when known
        path = phase_dir / "data" / EMPTY
        write_parquet_atomic(schema.empty_table(), path)
        out_files = [(str(path), 0)]
    stats.seconds = time.perf_counter() - started
    stats.rows_out = sum(rows for _, rows in out_files)
    summary = {"files": out_files, "stats": stats.to_dict()}
    atomic_write_json(marker, summary)
    return summary
