"""Distributed connected components of an edge list: alternating large-star / small-star rounds.

Kiveris et al., "Connected Components in MapReduce and Beyond" (SoCC 2014). Nodes are int64 (`_order`
values); edges are rows (`src`, `dst`) with `src > dst`. Each round is two hash-partitioned group-bys on a node,
so a worker only ever holds one partition of the edge list. The rounds stop when the edge list is a forest of
stars (no node has two smaller neighbours, or both a smaller and a larger one): then every edge is
(`node`, `root`) with `root` the smallest node of the component. Every round is persisted as parquet under the
work dir with its own completion marker, so a killed run resumes at the round it was in.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from curation.dedup import subphase
from curation.dedup.grouping import map_groups_local, partitions_for
from curation.io.shards import atomic_write_json

log = logging.getLogger("curation")
EDGE_SCHEMA = pa.schema([("src", pa.int64()), ("dst", pa.int64())])
SENTINEL = -1  # a (SENTINEL, count) row per partition carries the count of non-star nodes
MAX_ROUNDS = 200


def _edges_only(batch: pa.Table) -> pa.Table:
    return batch.filter(pc.not_equal(batch.column("src"), SENTINEL))


def _both_directions(batch: pa.Table) -> pa.Table:
    batch = _edges_only(batch)
    src, dst = batch.column("src"), batch.column("dst")
    return pa.table(
        {
            "node": pa.chunked_array(src.chunks + dst.chunks, pa.int64()),
            "nbr": pa.chunked_array(dst.chunks + src.chunks, pa.int64()),
        }
    )


def _larger_first(batch: pa.Table) -> pa.Table:
    batch = _edges_only(batch)
    return pa.table({"node": batch.column("src"), "nbr": batch.column("dst")})


def large_star(part: pa.Table) -> pa.Table:
    """Per node x: link every larger neighbour to the smallest of x and its neighbours; count non-star nodes."""
    df = pl.from_arrow(part).unique()
    df = df.with_columns(smaller=pl.col("nbr") < pl.col("node"))
    per_node = df.group_by("node").agg(
        root=pl.min_horizontal(pl.col("nbr").min(), pl.col("node").first()),
        smaller=pl.col("smaller").sum(),
        larger=(~pl.col("smaller")).sum(),
    )
    bad = per_node.filter(
        (pl.col("smaller") >= 2) | ((pl.col("smaller") >= 1) & (pl.col("larger") >= 1))
    ).height
    out = (
        df.filter(~pl.col("smaller"))
        .join(per_node.select("node", "root"), on="node")
        .select(src=pl.col("nbr"), dst=pl.col("root"))
        .unique()
    )
    sentinel = pl.DataFrame({"src": [SENTINEL], "dst": [bad]}, schema={"src": pl.Int64, "dst": pl.Int64})
    return pl.concat([out, sentinel]).to_arrow().cast(EDGE_SCHEMA)


def small_star(part: pa.Table) -> pa.Table:
    """Per node x with smaller neighbours N: link x and every node of N to the smallest of them."""
    df = pl.from_arrow(part).unique()
    roots = df.group_by("node").agg(root=pl.col("nbr").min())
    linked = pl.concat(
        [
            df.join(roots, on="node").select(src=pl.col("nbr"), dst=pl.col("root")),
            roots.select(src=pl.col("node"), dst=pl.col("root")),
        ]
    )
    return linked.filter(pl.col("src") != pl.col("dst")).unique().to_arrow().cast(EDGE_SCHEMA)


def _non_star_nodes(marker: dict) -> int:
    ds = subphase.read(marker)
    sentinels = ds.map_batches(
        lambda t: t.filter(pc.equal(t.column("src"), SENTINEL)), batch_format="pyarrow"
    )
    return int(sentinels.sum("dst") or 0)


def connected_components(edges: dict, work_dir: Path, min_partitions: int, rows_per_partition: int) -> dict:
    """Star forest of `edges` (a sub-phase marker of src > dst rows): a marker of (`src` = node, `dst` = root).

    Nodes that are their component's root, and nodes in no edge, do not appear as `src`.
    """
    finished = subphase.done(work_dir, "result")
    if finished is not None:
        return finished
    current = edges
    for round_no in range(MAX_ROUNDS):
        if not current["rows"]:
            break
        parts = partitions_for(2 * current["rows"], rows_per_partition, min_partitions)
        large = subphase.persist(
            work_dir,
            f"r{round_no:03d}_large",
            lambda c=current, p=parts: map_groups_local(
                subphase.read(c).map_batches(_both_directions, batch_format="pyarrow"),
                ["node"],
                large_star,
                p,
            ),
        )
        non_star = large.get("non_star")
        if non_star is None:
            non_star = _non_star_nodes(large)
            large = {**large, "non_star": non_star}
            atomic_write_json(work_dir / f"r{round_no:03d}_large" / subphase.SUCCESS, large)
        log.info("components round %d: %d edges, %d non-star nodes", round_no, current["rows"], non_star)
        if non_star == 0:
            break
        current = subphase.persist(
            work_dir,
            f"r{round_no:03d}_small",
            lambda c=large, p=parts: map_groups_local(
                subphase.read(c).map_batches(_larger_first, batch_format="pyarrow"), ["node"], small_star, p
            ),
        )
    else:
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    result = {**current, "rounds": round_no + 1}
    atomic_write_json(work_dir / "result" / subphase.SUCCESS, result)
    return result
