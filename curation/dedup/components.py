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

from curation.io.shards import atomic_write_json
from curation.stagekit import shuffle
from curation.stagekit.grouping import partitions_for

log = logging.getLogger("curation")
EDGE_SCHEMA = pa.schema([("src", pa.int64()), ("dst", pa.int64())])
NODE_SCHEMA = pa.schema([("node", pa.int64()), ("nbr", pa.int64())])
MAX_ROUNDS = 200


def _both_directions(batch: pa.Table) -> pa.Table:
    src, dst = batch.column("src"), batch.column("dst")
    return pa.table(
        {
            "node": pa.chunked_array(src.chunks + dst.chunks, pa.int64()),
            "nbr": pa.chunked_array(dst.chunks + src.chunks, pa.int64()),
        }
    )


def _larger_first(batch: pa.Table) -> pa.Table:
    return pa.table({"node": batch.column("src"), "nbr": batch.column("dst")})


def large_star(part: pa.Table, _index: int = 0) -> tuple[pa.Table, dict[str, int]]:
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
    return out.to_arrow().cast(EDGE_SCHEMA), {"non_star": bad}


def small_star(part: pa.Table, _index: int = 0) -> pa.Table:
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


def connected_components(edges: dict, work_dir: Path, min_partitions: int, rows_per_partition: int) -> dict:
    """Star forest of `edges` (a sub-phase marker of `src > dst` files): a marker of (`src` = node, `dst` = root).

    Nodes that are their component's root, and nodes in no edge, do not appear as `src`.
    """
    finished = shuffle.done(work_dir, "result")
    if finished is not None:
        return finished
    current = edges
    round_no = 0
    while current["rows"]:
        if round_no == MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        parts = partitions_for(2 * current["rows"], rows_per_partition, min_partitions)
        large = shuffle.shuffle(
            work_dir,
            f"r{round_no:03d}_large",
            current["files"],
            "node",
            parts,
            large_star,
            NODE_SCHEMA,
            _both_directions,
        )
        log.info(
            "components round %d: %d edges, %d non-star nodes",
            round_no,
            current["rows"],
            large["stats"]["non_star"],
        )
        if large["stats"]["non_star"] == 0:
            break
        current = shuffle.shuffle(
            work_dir,
            f"r{round_no:03d}_small",
            large["files"],
            "node",
            parts,
            small_star,
            NODE_SCHEMA,
            _larger_first,
        )
        round_no += 1
    result = {**current, "rounds": round_no + 1}
    atomic_write_json(work_dir / "result" / shuffle.SUCCESS, result)
    return result
