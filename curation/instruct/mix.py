"""`mix`: keep a mixture of sources at target fractions, exactly, deterministic by seed.

Every row gets a seeded uniform key u from its `_order`; each source keeps its quota of rows with the smallest
(u, `_order`), found in two passes of one task per input file (`quota_limits`), so which rows stay does not
depend on batching or cluster size, and the fractions are exact up to rounding.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray
import ray.data

from curation.io.parquet import iter_tables
from curation.ops.base import AT_LEAST_0, DROP, Stage, register, set_column
from curation.rows import ORDER
from curation.stagekit.context import StageContext
from curation.stagekit.input import dataset_files, require_columns

TEXT_ONLY = "text_only"


def seeded_uniform(order: np.ndarray, seed: int) -> np.ndarray:
    """A uniform [0, 1) value per `_order` (splitmix64 of order and seed)."""
    with np.errstate(over="ignore"):
        z = order.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def quotas(counts: dict[str, int], fractions: dict[str, float], total: int) -> dict[str, int]:
    """Rows to keep per group: `total` (0 = the largest mixture the counts allow) split by `fractions`
    (normalised) with largest remainders, never more than a group has."""
    weight = sum(fractions.values())
    share = {g: f / weight for g, f in fractions.items() if f > 0}
    largest = min(math.floor(counts.get(g, 0) / s + 1e-9) for g, s in share.items())
    total = min(total, largest) if total else largest
    exact = {g: s * total for g, s in share.items()}
    out = {g: math.floor(v) for g, v in exact.items()}
    for g in sorted(exact, key=lambda g: (out[g] - exact[g], g))[: total - sum(out.values())]:
        out[g] += 1
    return {g: min(out.get(g, 0), counts.get(g, 0)) for g in fractions}


BUCKETS = 4096  # pass 1 histograms u into this many buckets per source; pass 2 reads one bucket per source


def _group_values(batch: pa.Table, column: str, text_only: bool) -> pa.Array:
    """The source of each row: its `column` value (\"\" when absent), or `text_only` for rows without images."""
    if column in batch.column_names:
        groups = batch.column(column).cast(pa.string())
    else:
        groups = pa.chunked_array([pa.nulls(batch.num_rows, pa.string())])
    if text_only and "images" in batch.column_names:
        empty = pc.fill_null(pc.equal(pc.list_value_length(batch.column("images")), 0), True)
        groups = pc.if_else(empty, TEXT_ONLY, groups)
    return pc.fill_null(groups, "")


def _key_batches(path: str, column: str, text_only: bool, seed: int):
    have = pq.read_schema(path).names
    columns = [c for c in (column, ORDER) if c in have] + (
        ["images"] if text_only and "images" in have else []
    )
    for batch in iter_tables(path, 65536, columns):
        order = batch.column(ORDER).to_numpy()
        yield (
            np.asarray(_group_values(batch, column, text_only).to_pylist(), dtype=object),
            seeded_uniform(order, seed),
            order,
        )


@ray.remote(num_cpus=1)
def _histograms(path: str, column: str, text_only: bool, seed: int) -> dict[str, np.ndarray]:
    """Per source, the count of rows in each u bucket, for one file."""
    out: dict[str, np.ndarray] = {}
    for groups, u, _ in _key_batches(path, column, text_only, seed):
        buckets = np.minimum((u * BUCKETS).astype(np.int64), BUCKETS - 1)
        for group in set(groups.tolist()):
            hist = np.bincount(buckets[groups == group], minlength=BUCKETS)
            out[group] = out.get(group, 0) + hist
    return out


@ray.remote(num_cpus=1)
def _bucket_rows(path: str, column: str, text_only: bool, seed: int, wanted: dict[str, int]) -> dict:
    """Per source, the (u, _order) of its rows in its wanted bucket, for one file."""
    out: dict[str, list] = {}
    for groups, u, order in _key_batches(path, column, text_only, seed):
        buckets = np.minimum((u * BUCKETS).astype(np.int64), BUCKETS - 1)
        for group, bucket in wanted.items():
            hit = (groups == group) & (buckets == bucket)
            out.setdefault(group, []).extend(zip(u[hit].tolist(), order[hit].tolist(), strict=True))
    return out


def quota_limits(
    files: list[str], column: str, text_only: bool, seed: int, fractions: dict, total: int
) -> tuple:
    """(rows per source, kept rows per source, the (u, _order) of the last kept key of each partly kept source).

    Two passes of one task per file: u histograms per source, then only the keys in the bucket that holds each
    source's last kept key. The driver sees histograms and one bucket of keys per source, never the rows.
    """
    hists: dict[str, np.ndarray] = {}
    for part in ray.get([_histograms.remote(f, column, text_only, seed) for f in files]):
        for group, hist in part.items():
            hists[group] = hists.get(group, 0) + hist
    counts = {g: int(h.sum()) for g, h in hists.items()}
    keep = quotas(counts, fractions, total)
    wanted, rank = {}, {}
    for group, k in keep.items():
        if 0 < k < counts.get(group, 0):
            cumulative = np.cumsum(hists[group])
            wanted[group] = int(np.searchsorted(cumulative, k))  # first bucket reaching k rows
            rank[group] = k - int(cumulative[wanted[group]] - hists[group][wanted[group]])
    limits: dict[str, tuple[float, int]] = {
        g: (math.inf, 0) for g, k in keep.items() if k and g not in wanted
    }
    if wanted:
        keys: dict[str, list] = {g: [] for g in wanted}
        for part in ray.get([_bucket_rows.remote(f, column, text_only, seed, wanted) for f in files]):
            for group, rows in part.items():
                keys[group].extend(rows)
        for group, rows in keys.items():
            limits[group] = sorted(rows)[rank[group] - 1]
    return counts, keep, limits


@register("mix")
@dataclasses.dataclass
class Mix(Stage):
    """Mix sources to target `fractions` (weights, normalised), exactly and deterministically by seed.

    A row's source is its `column` value; with a `text_only` entry in `fractions`, rows without images form that
    source whatever their column says. `total`: rows to keep (0 = the largest mixture the pool allows: the
    scarcest source is kept whole; larger totals are capped to it). Rules: `not_in_mix` (a source with no
    fraction), `over_quota`.
    """

    ranges = {"total": AT_LEAST_0}

    column: str = "source"
    fractions: dict = dataclasses.field(default_factory=dict)
    total: int = 0

    def validate(self) -> None:
        if not self.fractions or any(
            not isinstance(v, int | float) or isinstance(v, bool) or v < 0 for v in self.fractions.values()
        ):
            raise ValueError("fractions: a mapping of source -> non-negative weight is required")
        if not sum(self.fractions.values()):
            raise ValueError("fractions: at least one weight must be positive")
        if self.total < 0:
            raise ValueError("total must be >= 0")

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        files = dataset_files(ds, ctx)
        text_only = TEXT_ONLY in self.fractions
        needs_column = bool(set(self.fractions) - {TEXT_ONLY})
        require_columns(files, [ORDER] + ([self.column] if needs_column else []), self.op_name)
        column, seed, fractions = self.column, ctx.seed, dict(self.fractions)
        _, _, limits = quota_limits(files, column, text_only, seed, fractions, self.total)

        def mark(batch: pa.Table) -> pa.Table:
            groups = _group_values(batch, column, text_only).to_pylist()
            order = batch.column(ORDER).to_numpy()
            reasons = []
            for g, ui, oi in zip(groups, seeded_uniform(order, seed).tolist(), order.tolist(), strict=True):
                if g not in fractions:
                    reasons.append("not_in_mix")
                elif g in limits and (ui, oi) <= limits[g]:
                    reasons.append(None)
                else:
                    reasons.append("over_quota")
            return set_column(batch, DROP, pa.array(reasons, pa.string()))

        return ds.map_batches(mark, batch_format="pyarrow")
