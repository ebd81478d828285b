"""Apply one row-local op to a batch: run it, isolate failing rows, split its marks (`rows.split_marks`), count."""

from __future__ import annotations

import logging
import time

import pyarrow as pa

from curation.ops.base import Filter, Mapper, Op
from curation.rows import ERROR, MARKS, split_marks
from curation.runner.accounting import StepStats

log = logging.getLogger("curation")


def _call(op: Op, batch: pa.Table) -> pa.Table:
    if isinstance(op, Filter):
        return op.evaluate(batch)
    if isinstance(op, Mapper):
        return op.map(batch)
    raise TypeError(f"{type(op).__name__} is not a row-local op")


def _call_rowwise(op: Op, batch: pa.Table) -> pa.Table:
    """Retry a failed batch one row at a time; a row that still raises gets an `_error` naming the exception."""
    parts = []
    for i in range(batch.num_rows):
        row = batch.slice(i, 1)
        try:
            parts.append(_call(op, row))
        except Exception as exc:  # the op's failure on this row is counted, never raised out of the job
            bad = row.drop_columns([c for c in MARKS if c in row.column_names])
            parts.append(bad.append_column(ERROR, pa.array([f"exception:{type(exc).__name__}"], pa.string())))
    return pa.concat_tables(parts, promote_options="default") if parts else batch


def apply_op(
    op: Op, step: str, batch: pa.Table, stats: StepStats, rejects: list[pa.Table] | None
) -> pa.Table:
    """Run `op` on `batch`, update `stats`, append rejected rows (with their reason) to `rejects`, return kept rows."""
    start = time.perf_counter()
    stats.rows_in += batch.num_rows
    try:
        marked = _call(op, batch)
    except Exception:
        marked = _call_rowwise(op, batch)
    n = marked.num_rows
    if n != batch.num_rows:
        raise RuntimeError(
            f"op {step} returned {n} rows for {batch.num_rows}: ops mark rows, they do not drop them"
        )
    split = split_marks(
        marked, step, drops=not (isinstance(op, Filter) and op.tag_only), rejects=rejects is not None
    )
    stats.errors.update(split.errors)
    stats.dropped.update(split.dropped)
    stats.notes.update(split.notes)
    if split.rejects is not None:
        rejects.append(split.rejects)
    stats.rows_out += split.kept.num_rows
    stats.seconds += time.perf_counter() - start
    return split.kept


def zero_row_output(ops: list[tuple[str, Op]], table: pa.Table) -> pa.Table | None:
    """Zero-row `table` through `ops` as kept rows would go (marks removed): the columns and types that rows
    reaching the end would have had. None when an op cannot take a zero-row batch (the schema stays unknown)."""
    for step, op in ops:
        try:
            table = _call(op, table)
        except Exception as exc:  # only a schema is at stake: the rows are counted already
            log.debug("step %s cannot take a zero-row batch (%s): no schema for its output", step, exc)
            return None
        if table.num_rows:  # rows out of none: not an op's contract (`apply_op` refuses it too)
            return None
        table = table.drop_columns([c for c in MARKS if c in table.column_names])
    return table
