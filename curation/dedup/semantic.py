"""SemDeDup (Abbas et al. 2023): k-means over embeddings, then within each cluster drop near-identical items."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray.data
import xxhash

from curation.dedup.grouping import map_groups_local, partitions_for
from curation.io.shards import atomic_write_json
from curation.ops.base import DROP, Stage, register, set_column
from curation.runner.context import StageContext

ORDER = "_order"
CLUSTER = "semdedup_cluster"
_SIM = "_centroid_sim"
KEEP_RULES = ("closest", "farthest", "first")


def embeddings_of(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(L2-normalised float32 matrix, valid mask) from a (fixed-size) list column; null rows are zeros."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    rows = [np.asarray(v, np.float32) if v is not None else None for v in arr.to_pylist()]
    dim = next((len(r) for r in rows if r is not None), 0)
    mat = np.zeros((len(rows), dim), np.float32)
    for i, r in enumerate(rows):
        if r is not None:
            mat[i] = r
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return mat / np.where(norms == 0, 1, norms), valid & (norms[:, 0] > 0)


def in_sample(orders: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """A deterministic sample by hash of `_order`: the same rows whatever the block layout or cluster size."""
    cut = int(rate * 2**64) if rate < 1 else 2**64
    return np.array(
        [xxhash.xxh3_64_intdigest(int(o).to_bytes(8, "little", signed=True), seed) < cut for o in orders]
    )


def greedy_keep(emb: np.ndarray, threshold: float) -> np.ndarray:
    """Walk rows in order; keep a row unless its cosine similarity to an already kept row exceeds `threshold`."""
    keep = np.zeros(len(emb), bool)
    kept: list[int] = []
    for i in range(len(emb)):
        if not kept or float(np.max(emb[kept] @ emb[i])) <= threshold:
            keep[i] = True
            kept.append(i)
    return keep


@register("semantic_dedup")
@dataclasses.dataclass
class SemanticDedup(Stage):
    """SemDeDup: cluster embeddings with k-means, then inside each cluster drop items whose cosine similarity to a
    kept item exceeds 1 - `eps` (rule `semantic_duplicate`).

    `column`: normalised embeddings (`clip_image_embedding` from `clip_score` with `write_embedding: true`).
    k-means (scikit-learn, seeded by the recipe seed) is fitted on a deterministic sample of at most
    `sample_size` rows; `num_clusters` 0 picks about one cluster per 1,000 rows. Within a cluster rows are
    visited by `keep`: `closest` to the centroid first (default), `farthest` first, or `first` in input order,
    ties broken by input order, so the result does not depend on the cluster layout. Rows without an embedding
    are kept untouched. `tag_only` writes `semdedup_cluster` and `is_semantic_duplicate` instead of dropping.
    """

    column: str = "clip_image_embedding"
    eps: float = 0.05
    num_clusters: int = 0
    sample_size: int = 100_000
    keep: str = "closest"

    def validate(self) -> None:
        if not 0.0 <= self.eps < 1.0:
            raise ValueError("eps must be within [0, 1)")
        if self.keep not in KEEP_RULES:
            raise ValueError(f"keep must be one of {list(KEEP_RULES)}, got {self.keep!r}")

    def _centroids(self, ds: ray.data.Dataset, ctx: StageContext) -> np.ndarray:
        """Fit (or reload, on resume) the k-means centroids."""
        from sklearn.cluster import KMeans

        saved = ctx.work_dir / "centroids.npy"
        if saved.exists():
            return np.load(saved)
        rate = min(1.0, self.sample_size / max(1, ctx.rows))
        column, seed = self.column, ctx.seed

        def sample(batch: pa.Table) -> pa.Table:
            orders = batch.column(ORDER).to_numpy()
            return batch.select([ORDER, column]).filter(pa.array(in_sample(orders, rate, seed)))

        parts = [
            b for b in ds.map_batches(sample, batch_format="pyarrow").iter_batches(batch_format="pyarrow")
        ]
        table = pa.concat_tables(parts).sort_by(ORDER) if parts else pa.table({ORDER: [], column: []})
        emb, valid = embeddings_of(table.column(column))
        emb = emb[valid]
        k = self.num_clusters or max(1, round(ctx.rows / 1000))
        k = max(1, min(k, len(emb)))
        centroids = (
            KMeans(n_clusters=k, random_state=ctx.seed, n_init=1).fit(emb).cluster_centers_
            if len(emb)
            else np.zeros((1, 1))
        )
        centroids = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        np.save(saved, centroids.astype(np.float32))
        atomic_write_json(ctx.work_dir / "centroids.json", {"k": int(k), "sampled": int(len(emb))})
        return np.load(saved)

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        centroids = self._centroids(ds, ctx)
        column, keep_rule, threshold, tag_only = self.column, self.keep, 1.0 - self.eps, self.tag_only

        def assign(batch: pa.Table) -> pa.Table:
            emb, valid = embeddings_of(batch.column(column))
            sims = (
                emb @ centroids.T
                if emb.shape[1] == centroids.shape[1]
                else np.zeros((len(emb), len(centroids)))
            )
            cluster = np.where(valid, sims.argmax(axis=1), -1)
            batch = set_column(batch, CLUSTER, pa.array(cluster, pa.int64()))
            return set_column(
                batch,
                _SIM,
                pa.array(sims.max(axis=1) if len(centroids) else np.zeros(len(emb)), pa.float64()),
            )

        def dedup(part: pa.Table) -> pa.Table:
            cluster = part.column(CLUSTER).to_numpy()
            order = part.column(ORDER).to_numpy()
            sim = part.column(_SIM).to_numpy()
            emb, _ = embeddings_of(part.column(column))
            duplicate = np.zeros(part.num_rows, bool)
            for c in np.unique(cluster[cluster >= 0]):
                idx = np.flatnonzero(cluster == c)
                primary = {"closest": -sim[idx], "farthest": sim[idx], "first": np.zeros(len(idx))}[keep_rule]
                idx = idx[np.lexsort((order[idx], primary))]
                duplicate[idx] = ~greedy_keep(emb[idx], threshold)
            part = part.drop_columns([_SIM])
            if tag_only:
                return set_column(part, "is_semantic_duplicate", pa.array(duplicate))
            marks = pa.array(np.where(duplicate, "semantic_duplicate", None).tolist(), pa.string())
            return set_column(part, DROP, marks)

        assigned = ds.map_batches(assign, batch_format="pyarrow")
        parts = partitions_for(ctx.rows, rows_per_partition=50_000, minimum=ctx.num_workers)
        return map_groups_local(assigned, [CLUSTER], dedup, parts)
