"""CLIP scoring through the same by-path loading code users use, in a Ray actor pool, and exact top-fraction."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

pytest.importorskip("open_clip")
sys.path.insert(0, str(Path(__file__).parent))
from clip_fixtures import build_tiny_clip, build_tiny_hf_text_clip  # noqa: E402

from curation.models import open_clip_reference  # noqa: E402
from curation.ops.clip import ClipScore  # noqa: E402
from curation.recipe import parse_recipe  # noqa: E402
from curation.runner.run import run_recipe  # noqa: E402

IMAGES = sorted(Path("data/images").glob("*.jpg"))
CAPTIONS = ["a photo of a street", "a red car", "a small dog on grass", "mountains at dawn", "a bowl of soup"]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-vit")


def test_references_map_to_open_clip_arguments(tmp_path, tiny_clip):
    assert open_clip_reference("ViT-B-32", "laion2b_s34b_b79k") == ("ViT-B-32", "laion2b_s34b_b79k")
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(b"")
    assert open_clip_reference("ViT-L-14", str(ckpt)) == ("ViT-L-14", str(ckpt.resolve()))
    assert open_clip_reference(str(tiny_clip), None) == (f"local-dir:{tiny_clip.resolve()}", None)
    with pytest.raises(FileNotFoundError, match="open_clip_config.json"):
        open_clip_reference(str(tmp_path), None)


def test_score_is_cosine_of_normalised_embeddings_from_a_direct_forward(tiny_clip):
    import open_clip
    import torch
    from PIL import Image

    images = [p.read_bytes() for p in IMAGES[:5]]
    op = ClipScore(model=str(tiny_clip), pretrained=None, write_embedding=True, batch_size=2)
    op.setup()
    out = op.evaluate(pa.table({"image": images, "caption": CAPTIONS}))

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{tiny_clip}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{tiny_clip}")
    model.eval()
    with torch.no_grad():
        pixels = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in IMAGES[:5]])
        img = model.encode_image(pixels)
        txt = model.encode_text(tokenizer(CAPTIONS))
    img = img / img.norm(dim=-1, keepdim=True)
    txt = txt / txt.norm(dim=-1, keepdim=True)
    expected = (img * txt).sum(-1).numpy()
    np.testing.assert_allclose(out.column("clip_score").to_numpy(), expected, rtol=1e-4, atol=1e-5)
    emb = np.array(out.column("clip_image_embedding").to_pylist(), dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=2e-3)
    np.testing.assert_allclose(emb, img.numpy(), atol=2e-3)


def _pool(path: Path, copies: int = 5) -> Path:
    """An img2dataset-style parquet pool: every bundled photo with several captions, plus one failed download."""
    rows = {"key": [], "caption": [], "jpg": [], "status": []}
    for i, img in enumerate(IMAGES):
        for j in range(copies):
            rows["key"].append(f"{i:04d}{j:02d}")
            rows["caption"].append(CAPTIONS[(i + j) % len(CAPTIONS)])
            rows["jpg"].append(img.read_bytes())
            rows["status"].append("success")
    rows["key"].append("failed")
    rows["caption"].append("x")
    rows["jpg"].append(None)
    rows["status"].append("failed_to_download")
    pq.write_table(pa.table(rows), path, row_group_size=16)
    return path


def test_clip_in_actor_pool_and_exact_top_fraction(ray_local, tiny_clip, tmp_path):
    pool = _pool(tmp_path / "pool.parquet")
    recipe = parse_recipe(
        {
            "name": "clip_top",
            "input": {"format": "img2dataset", "paths": [str(pool)], "batch_rows": 8},
            "output": {"rejects": True},
            "steps": [
                {"clip_score": {"model": str(tiny_clip), "pretrained": None, "batch_size": 4}},
                {"top_fraction": {"column": "clip_score", "fraction": 0.3}},
            ],
        }
    )
    result = run_recipe(recipe, output=str(tmp_path / "out"))
    assert result.stats["totals"]["identity_holds"]
    n = len(IMAGES) * 5
    kept = pads.dataset(tmp_path / "out" / "data").to_table()
    assert kept.num_rows == math.ceil(0.3 * n)  # exact on a pool several batches and units large
    rejected = pads.dataset(tmp_path / "out" / "rejects").to_table()
    below = rejected.filter(
        pa.compute.equal(rejected.column("reject_reason"), "top_fraction:below_top_fraction")
    )
    assert below.num_rows == n - kept.num_rows
    assert min(kept.column("clip_score").to_pylist()) >= max(below.column("clip_score").to_pylist())
    assert result.stats["steps"][0]["dropped"] == {"skipped_status_not_success": 1}


def test_shipped_clip_recipes_validate():
    from curation.recipe import load_recipe

    for name in ("datacomp_clip", "laion2b"):
        recipe = load_recipe(f"pipelines/{name}.yaml")
        assert any(s.op == "clip_score" for s in recipe.steps)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch missing")
def test_clip_rejects_bad_images_without_failing_the_batch(tiny_clip):
    op = ClipScore(model=str(tiny_clip), pretrained=None)
    op.setup()
    out = op.evaluate(pa.table({"image": [IMAGES[0].read_bytes(), b"", b"junk"], "caption": ["a", "b", "c"]}))
    assert out.column("_error").to_pylist() == [None, "image:empty", "image:not_an_image"]
    assert out.column("clip_score")[0].is_valid


@pytest.fixture(scope="module")
def clip_vocab_64(tmp_path_factory) -> Path:
    """A tiny open_clip whose text tower embeds 64 tokens: open_clip's tokenizer gives ids up to 49407."""
    return build_tiny_clip(tmp_path_factory.mktemp("clip") / "vocab-64", vocab_size=64)


@pytest.mark.parametrize("op", ["clip_score", "interleaved_clip_similarity"])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_tokenizer_that_does_not_fit_the_model_is_one_line_before_anything_runs(
    tmp_path, capsys, clip_vocab_64, op, command
):
    from curation.cli import main

    pool = _pool(tmp_path / "pool.parquet", copies=1)
    fmt = "img2dataset" if op == "clip_score" else "obelics"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        json.dumps(
            {
                "name": "t",
                "input": {"format": fmt, "paths": [str(pool)]},
                "steps": [{op: {"model": str(clip_vocab_64), "pretrained": None}}],
            }
        )
    )
    args = [command, str(recipe)] + (["--output", str(tmp_path / "out")] if command == "run" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"steps[0].{op}: cannot load its model: open_clip model {clip_vocab_64}" in err
    assert "49408 tokens" in err and "64 token embeddings" in err
    assert not (tmp_path / "out").exists()


def test_the_mismatch_fails_the_ops_setup_when_the_model_loads(clip_vocab_64):
    """Where no preflight ran (an op used from Python): the load itself refuses, before any row errors."""
    op = ClipScore(model=str(clip_vocab_64), pretrained=None)
    with pytest.raises(
        ValueError, match=r"49408 tokens, ids up to 49407\) does not fit its text tower \(64 token"
    ):
        op.setup()


def test_a_hugging_face_text_tower_is_checked_from_its_config_and_at_load(tmp_path, capsys):
    """A BERT text tower of 50 token embeddings with a 104-token tokenizer: `curate validate` reads the size
    from the BERT config on disk; the load compares the loaded embedding."""
    from curation.cli import main

    model = build_tiny_hf_text_clip(tmp_path / "hf-text", vocab_size=50)
    pool = _pool(tmp_path / "pool.parquet", copies=1)
    recipe = tmp_path / "r.yaml"
    step = {"clip_score": {"model": str(model), "pretrained": None}}
    recipe.write_text(
        json.dumps({"name": "t", "input": {"format": "img2dataset", "paths": [str(pool)]}, "steps": [step]})
    )
    assert main(["validate", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert (
        len(err.strip().splitlines()) == 1
        and "(104 tokens, ids up to 10" in err
        and "(50 token embeddings)" in err
    )
    with pytest.raises(
        ValueError, match=r"\(104 tokens, ids up to 10\d\) does not fit its text tower \(50 token"
    ):
        ClipScore(model=str(model), pretrained=None).setup()
    fits = build_tiny_hf_text_clip(tmp_path / "hf-text-fits", vocab_size=104)
    recipe.write_text(recipe.read_text().replace(str(model), str(fits)))
    assert main(["validate", str(recipe)]) == 0
    op = ClipScore(model=str(fits), pretrained=None)
    op.setup()
    assert (
        op.evaluate(pa.table({"image": [IMAGES[0].read_bytes()], "caption": ["a photo of a dog"]}))
        .column("clip_score")[0]
        .is_valid
    )
