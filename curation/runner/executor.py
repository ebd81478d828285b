"""Apply one row-local op to a batch: run it, isolate failing rows, count, split kept / dropped / errored."""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc

from curation.ops.base import DROP, ERROR, Filter, Mapper, Op
from curation.runner.accounting import StepStats

REJECT_REASON = "reject_reason"


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
            bad = row.drop_columns([c for c in (DROP, ERROR) if c in row.column_names])
            parts.append(bad.append_column(ERROR, pa.array([f"exception:{type(exc).__name__}"], pa.string())))
    return pa.concat_tables(parts, promote_options="default") if parts else batch


def _count(column: pa.ChunkedArray, mask: pa.ChunkedArray | pa.Array, prefix: str) -> dict[str, int]:
    values = pc.filter(column, mask)
    if len(values) == 0:
        return {}
    counts = pc.value_counts(values)
    return {
        f"{prefix}:{v.as_py()}": c.as_py()
        for v, c in zip(counts.field("values"), counts.field("counts"), strict=True)
    }


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
    no = pa.array([False] * n)
    has_error = pc.is_valid(marked.column(ERROR)) if ERROR in marked.column_names else no
    drop_col = marked.column(DROP) if DROP in marked.column_names else None
    tag_only = isinstance(op, Filter) and op.tag_only
    if drop_col is not None and not tag_only:
        has_drop = pc.and_(pc.is_valid(drop_col), pc.invert(has_error))
    else:
        has_drop = no
    keep = pc.invert(pc.or_(has_error, has_drop))
    if ERROR in marked.column_names:
        stats.errors.update(_count(marked.column(ERROR), has_error, step))
    if drop_col is not None and not tag_only:
        stats.dropped.update(_count(drop_col, has_drop, step))
    internal = [c for c in (DROP, ERROR) if c in marked.column_names]
    all_kept = pc.all(keep).as_py()
    if rejects is not None and not all_kept:
        rejected = pc.invert(keep)
        reason = pc.coalesce(*[marked.column(c) for c in (ERROR, DROP) if c in marked.column_names])
        rows = marked.filter(rejected).drop_columns(internal)
        rows = rows.append_column(
            REJECT_REASON, pc.binary_join_element_wise(step, pc.filter(reason, rejected), ":")
        )
        rejects.append(rows)
    kept = (marked if all_kept else marked.filter(keep)).drop_columns(internal)  # no copy when none leave
    stats.rows_out += kept.num_rows
    stats.seconds += time.perf_counter() - start
    return kept
