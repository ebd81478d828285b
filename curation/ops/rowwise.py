"""Helpers for ops that score one text at a time."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from curation.ops.base import ERROR, set_column, with_drop

# A row function returns (scores, failed rule or None).
RowFn = Callable[[str], tuple[dict[str, float], str | None]]


def evaluate_text_rows(
    batch: pa.Table, column: str, fn: RowFn, score_types: dict[str, pa.DataType]
) -> pa.Table:
    """Run `fn` on every value of `column`; add its scores and the `_drop` column.

    A null text is an error of that row, not of the batch.
    """
    texts = batch.column(column).to_pylist()
    scores: dict[str, list[float | None]] = {name: [] for name in score_types}
    reasons: list[str | None] = []
    errors: list[str | None] = []
    for text in texts:
        if text is None:
            for values in scores.values():
                values.append(None)
            reasons.append(None)
            errors.append(f"null_{column}")
            continue
        row_scores, reason = fn(text)
        for name, values in scores.items():
            values.append(row_scores.get(name))
        reasons.append(reason)
        errors.append(None)
    for name, dtype in score_types.items():
        batch = set_column(batch, name, pa.array(scores[name], type=dtype))
    batch = with_drop(batch, reasons)
    if any(errors):
        batch = set_column(batch, ERROR, pa.array(errors, type=pa.string()))
    return batch
