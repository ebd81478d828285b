"""SemDeDup (Abbas et al. 2023): k-means over embeddings, then within each cluster drop near-identical items."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pyarrow as pa
import ray.data
import xxhash

from curation.dedup.marking import duplicate_tags, mark_duplicates, sorted_labels
from curation.io.shards import atomic_write_json
from curation.ops.base import AT_LEAST_0, POSITIVE, Stage, register
from curation.ops.clip import embeddings_of
from curation.rows import ORDER
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext
from curation.stagekit.grouping import partitions_for
from curation.stagekit.input import dataset_files, order_bounds, require_columns

CLUSTER = "semdedup_cluster"
_SIM = "_centroid_sim"
ASSIGNED = pa.schema(
    [(CLUSTER, pa.int64()), (ORDER, pa.int64()), (_SIM, pa.float64()), ("emb", pa.list_(pa.float32()))]
)
KEEP_RULES = ("closest", "farthest", "first")


def in_sample(orders: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """A deterministic sample by hash of `_order`: the same rows whatever the block layout or cluster size."""
    cut = int(rate * 2**64) if rate < 1 else 2**64
    return np.array(
        [xxhash.xxh3_64_intdigest(int(o).to_bytes(8, "little", signed=True), seed) < cut for o in orders]
    )


def greedy_keep(emb: np.ndarray, threshold: float) -> np.ndarray:
    """Walk rows in order; keep a row unless its cosine similarity to an already kept row exceeds `threshold`.

    Returns, per row, -1 when kept, else the index of the most similar kept row.
    """
    match = np.full(len(emb), -1)
    kept: list[int] = []
    for i in range(len(emb)):
        if kept:
            sims = emb[kept] @ emb[i]
            best = int(np.argmax(sims))
            if float(sims[best]) > threshold:
                match[i] = kept[best]
                continue
        kept.append(i)
    return match


def _assign(batch: pa.Table, column: str, centroids: np.ndarray) -> pa.Table:
    """(cluster, `_order`, similarity to the centroid, embedding) of every row with an embedding."""
    emb, valid = embeddings_of(batch.column(column))
    sims = emb @ centroids.T if emb.shape[1] == centroids.shape[1] else np.zeros((len(emb), len(centroids)))
    rows = np.flatnonzero(valid)
    flat = pa.array(emb[rows].reshape(-1), pa.float32())
    return pa.table(
        {
            CLUSTER: pa.array(sims[rows].argmax(axis=1), pa.int64()),
            ORDER: batch.column(ORDER).to_numpy()[rows],
            _SIM: pa.array(sims[rows].max(axis=1), pa.float64()),
            "emb": pa.ListArray.from_arrays(
                pa.array(np.arange(len(rows) + 1) * emb.shape[1], pa.int32()), flat
            ),
        }
    )


def _duplicates(part: pa.Table, _index: int, keep_rule: str, threshold: float) -> pa.Table:
    """(src, dst) for every row of the partition's clusters that a kept row (dst) covers."""
    cluster, order, sim = (part.column(c).to_numpy() for c in (CLUSTER, ORDER, _SIM))
    emb, _ = embeddings_of(part.column("emb"))
    src, dst = [], []
    for c in np.unique(cluster):
        idx = np.flatnonzero(cluster == c)
        primary = {"closest": -sim[idx], "farthest": sim[idx], "first": np.zeros(len(idx))}[keep_rule]
        idx = idx[np.lexsort((order[idx], primary))]
        match = greedy_keep(emb[idx], threshold)
        dup = np.flatnonzero(match >= 0)
        src.extend(order[idx[dup]])
        dst.extend(order[idx[match[dup]]])
    return pa.table({"src": pa.array(src, pa.int64()), "dst": pa.array(dst, pa.int64())})


@register("semantic_dedup")
@dataclasses.dataclass
class SemanticDedup(Stage):
    """SemDeDup: cluster embeddings with k-means, then inside each cluster drop items whose cosine similarity to a
    kept item exceeds 1 - `eps` (rule `semantic_duplicate`).

    `column`: normalised embeddings (`clip_image_embedding` from `clip_score` with `write_embedding: true`).
    k-means (scikit-learn, seeded by the recipe seed) is fitted on a deterministic sample of at most
    `sample_size` rows; `num_clusters` 0 picks about one cluster per 1,000 rows. Within a cluster rows are
    visited by `keep`: `closest` to the centroid first (default), `farthest` first, or `first` in input order,
    ties broken by input order, so the result does not depend on the cluster layout. Only (cluster, row,
    embedding) tuples are shuffled, never the rows. Rows without an embedding are kept untouched. `tag_only`
    writes `is_semantic_duplicate` instead of dropping.
    """

    ranges = {"eps": (0, 2), "num_clusters": AT_LEAST_0, "sample_size": POSITIVE}  # eps: a cosine distance

    requires = ("{column}",)
    tag_fields = duplicate_tags("is_semantic_duplicate", cluster="")

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
        files = dataset_files(ds, ctx)
        require_columns(files, [ORDER, self.column], self.op_name)
        centroids = self._centroids(ds, ctx)
        assign = functools.partial(_assign, column=self.column, centroids=centroids)
        reduce = functools.partial(_duplicates, keep_rule=self.keep, threshold=1.0 - self.eps)
        parts = partitions_for(ctx.rows, rows_per_partition=50_000, minimum=ctx.num_workers)
        edges = shuffle.shuffle(ctx.work_dir, "duplicates", files, CLUSTER, parts, reduce, ASSIGNED, assign)
        labels = sorted_labels(ctx.work_dir, {**edges, "rounds": 0}, order_bounds(files))
        return mark_duplicates(ds, labels, "semantic_duplicate", self.active_tags())
