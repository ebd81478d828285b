"""Candidate edges from bucket keys: rows (`key`, `node`) hash-partitioned on `key`, edges (`src` > `dst`) out.

MinHash bands link every member of a bucket to the bucket's smallest node (a star: the bucket stays connected
with n-1 edges instead of n^2/2). Pigeonhole chunks of perceptual hashes connect every pair of a bucket whose
Hamming distance is within the radius (buckets of a chunk are not cliques, so pairs are checked): rows with the
same hash as a star, the distinct hashes pairwise.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from curation.dedup.components import EDGE_SCHEMA

BUCKET_SCHEMA = pa.schema([("key", pa.uint64()), ("node", pa.int64())])
PAIR_BLOCK = 2048  # rows of a bucket compared at once against the rest of it


def bucket_rows(keys: np.ndarray, nodes: np.ndarray) -> pa.Table:
    """Explode (docs, k) keys into one (`key`, `node`) row per document and key."""
    k = keys.shape[1] if keys.ndim == 2 else 0
    return pa.table(
        {"key": pa.array(keys.reshape(-1), pa.uint64()), "node": pa.array(np.repeat(nodes, k), pa.int64())}
    )


def star_edges(part: pa.Table, _index: int = 0) -> pa.Table:
    """(member, smallest member) for every member of every bucket with more than one member."""
    df = pl.from_arrow(part).select("key", "node").unique()
    df = df.with_columns(root=pl.col("node").min().over("key")).filter(pl.col("node") != pl.col("root"))
    return df.select(src=pl.col("node"), dst=pl.col("root")).unique().to_arrow().cast(EDGE_SCHEMA)


def hamming_edges(part: pa.Table, _index: int, radius: int) -> pa.Table:
    """Edges that connect every pair of a bucket whose `hash` values differ in at most `radius` bits: each row
    to the smallest node with the same hash (a star, so n copies of one image cost n-1 edges, not n^2/2), and
    the smallest nodes of the bucket's distinct hashes pairwise where within the radius."""
    df = pl.from_arrow(part).select("key", "node", "hash").unique()
    df = df.with_columns(first=pl.col("node").min().over("key", "hash"))
    stars = df.filter(pl.col("node") != pl.col("first")).select(src=pl.col("node"), dst=pl.col("first"))
    distinct = df.filter(pl.col("node") == pl.col("first")).sort("key", "node")
    keys, nodes = distinct["key"].to_numpy(), distinct["node"].to_numpy()
    hashes = distinct["hash"].to_numpy().astype(np.uint64)
    bounds = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1], [True])))
    src, dst = [], []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi - lo < 2:
            continue
        for a in range(lo, hi, PAIR_BLOCK):
            b = min(a + PAIR_BLOCK, hi)
            dist = np.bitwise_count(hashes[a:b, None] ^ hashes[None, lo:hi])
            i, j = np.nonzero((dist <= radius) & (nodes[a:b, None] > nodes[None, lo:hi]))
            src.append(nodes[a + i])
            dst.append(nodes[lo + j])
    pairs = pl.DataFrame(
        {
            "src": np.concatenate(src) if src else np.zeros(0, np.int64),
            "dst": np.concatenate(dst) if dst else np.zeros(0, np.int64),
        }
    )
    return pl.concat([stars.cast(pairs.schema), pairs]).unique().to_arrow().cast(EDGE_SCHEMA)
