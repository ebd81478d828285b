"""Connected components by large-star/small-star rounds, against union-find; the distributed, resumable driver."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
from dedup_corpus import closure

from curation.dedup.components import (
    _both_directions,
    _larger_first,
    connected_components,
    large_star,
    small_star,
)
from curation.io.shards import write_parquet_atomic
from curation.stagekit import shuffle


def _random_graph(rng: np.random.Generator, nodes: int, edges: int) -> pa.Table:
    a, b = rng.integers(0, nodes, edges), rng.integers(0, nodes, edges)
    keep = a != b
    return pa.table(
        {"src": np.maximum(a, b)[keep].astype(np.int64), "dst": np.minimum(a, b)[keep].astype(np.int64)}
    )


def _roots(forest: pa.Table, edges: pa.Table, nodes: int) -> list[int]:
    got = dict(zip(forest.column("src").to_pylist(), forest.column("dst").to_pylist(), strict=True))
    assert len(got) == forest.num_rows  # one root per node
    return [got.get(x, x) for x in range(nodes)]


def test_star_rounds_equal_union_find_on_random_graphs():
    rng = np.random.default_rng(0)
    for _ in range(15):
        nodes = 200
        edges = _random_graph(rng, nodes, int(rng.integers(20, 300)))
        truth = closure(
            nodes, list(zip(edges.column("src").to_pylist(), edges.column("dst").to_pylist(), strict=True))
        )
        current = edges
        for _round in range(50):
            large, stats = large_star(_both_directions(current))
            if stats["non_star"] == 0:
                break
            current = small_star(_larger_first(large))
        assert _roots(current, edges, nodes) == truth


def test_distributed_components_resume_from_round_markers(ray_local, tmp_path):
    rng = np.random.default_rng(1)
    perm = rng.permutation(60)  # a shuffled path needs several rounds, plus a random part
    path = pa.table({"src": np.maximum(perm[:-1], perm[1:]), "dst": np.minimum(perm[:-1], perm[1:])})
    extra = _random_graph(rng, 300, 150)
    edges = pa.concat_tables([path.cast(extra.schema), extra.cast(extra.schema)])
    pairs = list(zip(edges.column("src").to_pylist(), edges.column("dst").to_pylist(), strict=True))
    truth = closure(300, pairs)
    files = []
    for i, piece in enumerate((edges.slice(0, 100), edges.slice(100, 50), edges.slice(150))):
        write_parquet_atomic(piece, tmp_path / f"e{i}.parquet")
        files.append(str(tmp_path / f"e{i}.parquet"))
    marker = {"files": files, "rows": edges.num_rows}

    work = tmp_path / "components"
    result = connected_components(marker, work, min_partitions=2, rows_per_partition=100)
    forest = pads.dataset(result["files"], format="parquet").to_table()
    assert _roots(forest, edges, 300) == truth
    assert result["rounds"] >= 2
    rounds = sorted(p.name for p in work.iterdir() if (p / shuffle.SUCCESS).exists())
    assert not any((work / name / "_scatter").exists() for name in rounds)  # scratch pieces are removed
    assert "r000_large" in rounds and "r000_small" in rounds

    # a run killed after round 0: only its markers survive; resuming recomputes the rest identically
    for name in rounds:
        if name not in ("r000_large", "r000_small") or name == "result":
            shutil.rmtree(work / name)
    before = (work / "r000_small" / shuffle.SUCCESS).read_text()
    again = connected_components(marker, work, min_partitions=2, rows_per_partition=100)
    assert (work / "r000_small" / shuffle.SUCCESS).read_text() == before  # not recomputed
    resumed = pads.dataset(again["files"], format="parquet").to_table()
    assert _roots(resumed, edges, 300) == truth
    assert again["rounds"] == result["rounds"]
