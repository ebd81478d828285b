"""Keep the top fraction of the whole pool by a score column (DataComp "CLIP score top 30 %"), exactly."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray.data

from curation.ops.base import FRACTION, Stage, register
from curation.rows import DROP, ORDER, set_column
from curation.stagekit.context import StageContext


def _rank_key(batch: pa.Table, column: str) -> pa.Table:
    """(score with nulls/NaN as -inf, _order): the ranking is score descending, then input order."""
    scores = batch.column(column).cast(pa.float64()).to_numpy(zero_copy_only=False)
    scores = np.where(np.isnan(scores), -np.inf, scores)
    return pa.table({"_score": scores, ORDER: batch.column(ORDER)})


def kth_best(ds: ray.data.Dataset, column: str, k: int) -> tuple[float, int]:
    """The (score, _order) of the k-th best row (1-based), by a distributed sort; only one row reaches the driver."""
    ranked = ds.map_batches(_rank_key, fn_kwargs={"column": column}, batch_format="pyarrow")
    ranked = ranked.sort(["_score", ORDER], descending=[True, False]).materialize()
    _, row, _ = ranked.split_at_indices([k - 1, k])
    (only,) = row.take_all()
    return only["_score"], only[ORDER]


@register("top_fraction")
@dataclasses.dataclass
class TopFraction(Stage):
    """Keep exactly the best `fraction` of the pool by `column` (DataComp CLIP-score filtering: 0.3).

    The threshold is computed on the whole pool, not per batch: rows are ranked by score (descending; null and
    NaN last) and then by input order, and the first ceil(fraction * rows) are kept. Rule: `below_top_fraction`.
    """

    requires = ("{column}",)

    ranges = {"fraction": FRACTION}

    column: str = "clip_score"
    fraction: float = 0.3

    def validate(self) -> None:
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError("fraction must be within (0, 1]")

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        k = math.ceil(self.fraction * ctx.rows)
        column = self.column
        if k >= ctx.rows:
            return ds.map_batches(
                lambda t: set_column(t, DROP, pa.nulls(t.num_rows, pa.string())), batch_format="pyarrow"
            )
        score_k, order_k = kth_best(ds, column, k)

        def mark(batch: pa.Table) -> pa.Table:
            key = _rank_key(batch, column)
            score, order = key.column("_score"), key.column(ORDER)
            better = pc.or_(
                pc.greater(score, score_k), pc.and_(pc.equal(score, score_k), pc.less_equal(order, order_k))
            )
            return set_column(
                batch, DROP, pc.if_else(better, pa.scalar(None, pa.string()), "below_top_fraction")
            )

        return ds.map_batches(mark, batch_format="pyarrow")
