"""SemDeDup: planted duplicates in the real pool are removed, distinct images kept, deterministically."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from curation.dedup.semantic import greedy_keep, in_sample
from curation.recipe import parse_recipe
from curation.runner.run import run_recipe

pytest.importorskip("sklearn")


def test_greedy_keep_drops_rows_similar_to_kept_ones():
    emb = np.array([[1, 0], [0.999, 0.0447], [0, 1], [0.7071, 0.7071]], np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    assert greedy_keep(emb, 0.95).tolist() == [-1, 0, -1, -1]  # row 1 is covered by kept row 0


def test_sample_is_a_function_of_order_only():
    orders = np.arange(10_000)
    a, b = in_sample(orders, 0.1, 7), in_sample(orders[::-1], 0.1, 7)[::-1]
    assert (a == b).all() and 800 < a.sum() < 1200


def _pixel_embedding(data: bytes) -> np.ndarray:
    """A deterministic image embedding for the test: a mean-centred 24x24 grey thumbnail."""
    from PIL import Image

    thumb = np.asarray(Image.open(io.BytesIO(data)).convert("L").resize((24, 24)), np.float32).reshape(-1)
    thumb -= thumb.mean()
    return thumb / max(np.linalg.norm(thumb), 1e-6)


def _run(pool, tmp_path, name, **params):
    recipe = parse_recipe(
        {
            "name": name,
            "input": {"paths": [str(pool)], "batch_rows": 128},
            "seed": 3,
            "steps": [{"semantic_dedup": {"column": "emb", "eps": 0.02, "num_clusters": 8, **params}}],
        }
    )
    return run_recipe(recipe, output=str(tmp_path / name))


def test_semdedup_on_the_real_pool(ray_local, shared, tmp_path):
    table = pq.read_table(shared("images", "pairs_sample.parquet"), columns=["key", "jpg"])
    images = table.column("jpg").to_pylist()
    emb = np.stack([_pixel_embedding(b) for b in images]).astype(np.float16)
    digest = [hashlib.sha1(b).hexdigest() for b in images]
    pool = tmp_path / "pool.parquet"
    flat = pa.array(emb.reshape(-1), pa.float16())
    pq.write_table(
        pa.table(
            {
                "key": table.column("key"),
                "sha1": digest,
                "emb": pa.FixedSizeListArray.from_arrays(flat, emb.shape[1]),
            }
        ),
        pool,
        row_group_size=300,
    )
    result = _run(pool, tmp_path, "semdedup")
    assert result.stats["totals"]["identity_holds"]
    kept = pads.dataset(tmp_path / "semdedup" / "data").to_table()
    kept_sha = kept.column("sha1").to_pylist()
    distinct = len(set(digest))
    assert len(kept_sha) == len(set(kept_sha))  # every planted copy is gone
    assert len(set(kept_sha)) >= 0.97 * distinct  # and distinct images stay
    tagged = _run(pool, tmp_path, "semdedup_tags", tag_only=True)
    tags = pads.dataset(tmp_path / "semdedup_tags" / "data").to_table()
    assert tagged.stats["totals"]["output_rows"] == tags.num_rows == len(images)
    flags = tags.column("is_semantic_duplicate").to_pylist()
    # a second, independent run marks exactly the rows the first one dropped
    assert [
        k for k, dup in zip(tags.column("key").to_pylist(), flags, strict=True) if not dup
    ] == kept.column("key").to_pylist()
