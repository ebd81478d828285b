"""Strategies select row ids from the scored columns only; a bad strategy is a clear StrategyError."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.bench.pool import Pool
from curation.bench.strategies import Strategy, StrategyError, needed_columns, select

CAPTIONS = ["a photo of a dog", "https://x.example.com/a.jpg", "IMG_0001.JPG", "ok", "a red bag on a table"]


@pytest.fixture
def pool(tmp_path) -> Pool:
    """Two parquet files (row ids continue across them), scores with a tie and a null, and a payload column."""
    rows = 10
    table = pa.table(
        {
            "uid": [f"u{i}" for i in range(rows)],
            "caption": [CAPTIONS[i % len(CAPTIONS)] for i in range(rows)],
            "image": [bytes([i]) * 4 for i in range(rows)],
            "score": [0.1, 0.9, 0.5, 0.5, None, 0.7, 0.2, 0.5, 0.8, 0.3],
            "phash": ["a", "b", "a", None, "c", "b", "d", None, "e", "a"],
            "planted": ["clean", "x"] * 5,
        }
    )
    (tmp_path / "data").mkdir()
    pq.write_table(table.slice(0, 6), tmp_path / "data" / "part-00000.parquet")
    pq.write_table(table.slice(6), tmp_path / "data" / "part-00001.parquet")
    return Pool.open(tmp_path)


def _sel(pool: Pool, kind: str, seed: int = 0, **params) -> list[int]:
    return select(Strategy("s", kind, params), pool, seed).tolist()


def test_kinds_select_the_right_row_ids(pool):
    assert pool.num_rows == 10
    assert _sel(pool, "none") == list(range(10))
    assert _sel(pool, "threshold", column="score", min=0.5) == [1, 2, 3, 5, 7, 8]
    assert _sel(pool, "threshold", column="score", min=0.2, max=0.5) == [2, 3, 6, 7, 9]
    # exactly round(0.4 * 10) rows, the null ranks last, the 0.5 tie is broken by row id
    assert _sel(pool, "top_fraction", column="score", fraction=0.4) == [1, 2, 5, 8]
    assert _sel(pool, "equals", column="planted", values=["clean"]) == [0, 2, 4, 6, 8]
    assert _sel(pool, "dedup", column="phash") == [0, 1, 3, 4, 6, 7, 8]
    # DataComp's caption rules on the caption column: URL, file name and < 3 words are dropped
    assert _sel(pool, "steps", steps=[{"caption_filter": {}}]) == [0, 4, 5, 9]


def test_random_is_seeded_exact_and_differs_between_seeds(pool):
    a, b = _sel(pool, "random", seed=1, fraction=0.5), _sel(pool, "random", seed=1, fraction=0.5)
    assert a == b and len(a) == 5 and a == sorted(a)
    assert any(_sel(pool, "random", seed=s, fraction=0.5) != a for s in range(2, 6))
    assert len(_sel(pool, "random", k=3)) == 3


def test_strategies_read_only_their_columns(pool):
    assert needed_columns(Strategy("s", "top_fraction", {"column": "score", "fraction": 0.5})) == ["score"]
    assert needed_columns(Strategy("s", "steps", {"steps": [{"caption_filter": {}}]})) == ["caption"]
    assert needed_columns(Strategy("s", "none")) == []


def test_python_kind_plugs_in_a_selection_function(pool, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    ids = _sel(pool, "python", function="strategy_plugin:even_scores", columns=["score"], modulo=3)
    assert ids == [0, 3, 6, 9]
    with pytest.raises(StrategyError, match="cannot be imported"):
        _sel(pool, "python", function="no_such_module:f")
    sys.modules.pop("strategy_plugin", None)


def test_bad_strategies_say_what_is_wrong(pool):
    with pytest.raises(StrategyError, match="needs column 'clip_score', which the pool does not have"):
        _sel(pool, "top_fraction", column="clip_score", fraction=0.5)
    with pytest.raises(StrategyError, match="selects no rows of the 10-row pool"):
        _sel(pool, "threshold", column="score", min=2.0)
    with pytest.raises(StrategyError, match="exactly one of fraction, k"):
        _sel(pool, "random")
    with pytest.raises(StrategyError, match="bad parameters"):
        _sel(pool, "top_fraction", column="score", fractoin=0.5)
    # out-of-range fractions selected 70 % (-0.3) or everything (1.5) without a word, or crashed the benchmark
    for kind in ("top_fraction", "random"):
        for fraction in (-0.3, 0, 1.5):
            with pytest.raises(StrategyError, match=r"fraction must be a number in \(0, 1\]"):
                _sel(pool, kind, column="score", fraction=fraction) if kind != "random" else _sel(
                    pool, kind, fraction=fraction
                )
    with pytest.raises(StrategyError, match="k must be an integer >= 1, got -3"):
        _sel(pool, "random", k=-3)
    # a column of the wrong type: the strategy is skipped with its reason, the benchmark goes on
    with pytest.raises(StrategyError, match="cannot select with kind 'threshold'"):
        _sel(pool, "threshold", column="caption", min=3)
    with pytest.raises(StrategyError, match="cannot select with kind 'top_fraction'"):
        _sel(pool, "top_fraction", column="caption", fraction=0.5)


def test_export_writes_only_the_selected_rows_as_webdataset(pool, tmp_path):
    from curation.io.reader_stats import ReaderStats
    from curation.io.units import Unit
    from curation.io.webdataset import read_webdataset

    shards = pool.export(np.array([8, 1, 6]), tmp_path / "wds", 2, "image", "caption", "uid")
    assert [s.name for s in shards] == ["shard-00000.tar", "shard-00001.tar"]
    rows = []
    for s in shards:
        for t in read_webdataset(Unit(0, str(s), "webdataset"), ReaderStats(), 100):
            rows += t.to_pylist()
    assert [r["uid"] for r in rows] == ["u1", "u6", "u8"]
    assert [r["image"] for r in rows] == [bytes([1]) * 4, bytes([6]) * 4, bytes([8]) * 4]


def test_metaclip_strategy_selects_the_balanced_rows(tmp_path, ray_local):
    """MetaCLIP balancing scored once by the bench's scoring path (tag_only), then selected with `equals`."""
    import json

    from curation.bench.config import parse_bench
    from curation.bench.run import prepare_pool

    # a head entry (bag: 300 rows), a tail entry (coat: 12 rows), and captions that match nothing
    captions = ["a photo of a bag"] * 300 + ["a coat on a chair"] * 12 + ["IMG_0001.JPG"] * 20
    (tmp_path / "raw").mkdir()
    pq.write_table(
        pa.table(
            {
                "uid": [f"u{i}" for i in range(len(captions))],
                "caption": captions,
                "image": [b"x"] * len(captions),
            }
        ),
        tmp_path / "raw" / "part-00000.parquet",
    )
    (tmp_path / "meta.json").write_text(json.dumps(["bag", "coat", "shoe"]))
    meta = str(tmp_path / "meta.json")
    raw = {
        "output": "out",
        "pool": {
            "path": str(tmp_path / "raw"),
            "score": [
                {"metaclip_match": {"metadata": meta}},
                {"metaclip_balance": {"metadata": meta, "t": 30, "tag_only": True}},
            ],
        },
        "strategies": [{"name": "metaclip", "kind": "equals", "column": "metaclip_keep", "values": [True]}],
        "tasks": [{"name": "t", "kind": "zeroshot", "images": "i", "labels": "l"}],
    }
    cfg = parse_bench(raw, "b.yaml", tmp_path)
    scored = prepare_pool(cfg, log=lambda _: None)
    assert scored.num_rows == len(captions)  # tag_only: every row kept, the decision is a column
    ids = select(cfg.strategies[0], scored, 0)
    table = scored.read(["caption", "metaclip_keep"])
    kept = np.flatnonzero(np.asarray(table.column("metaclip_keep").fill_null(False)))
    assert ids.tolist() == kept.tolist()
    chosen = [table.column("caption")[int(i)].as_py() for i in ids]
    assert chosen.count("a coat on a chair") == 12  # a tail entry (count <= t) is kept whole
    assert 10 <= chosen.count("a photo of a bag") <= 60  # a head entry keeps about t of its 300
    assert "IMG_0001.JPG" not in chosen  # no match, not kept
