"""NudeNet runs offline with its shipped model on real photos; the image score follows the documented rule."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("nudenet")
from curation.ops.nsfw import EXPOSED, NsfwFilter, image_score  # noqa: E402

PHOTOS = sorted(Path("data/images").glob("*.jpg"))


def test_image_score_rule():
    dets = [{"class": "FACE_FEMALE", "score": 0.9}, {"class": "BUTTOCKS_EXPOSED", "score": 0.4}]
    assert image_score(dets, frozenset(EXPOSED)) == 0.4
    assert image_score(dets[:1], frozenset(EXPOSED)) == 0.0


def test_bundled_photos_score_low_and_bad_bytes_are_errors():
    op = NsfwFilter()
    op.setup()
    out = op.evaluate(pa.table({"image": [p.read_bytes() for p in PHOTOS] + [b"not an image"]}))
    scores = out.column("nsfw_score").to_pylist()
    assert all(s is not None and s <= 0.5 for s in scores[:-1])
    assert out.column("_drop").to_pylist()[:-1] == [None] * len(PHOTOS)
    assert out.column("_error").to_pylist()[-1] == "image:not_an_image"


def test_detector_finds_people_in_real_coco_photos(shared):
    """The shipped model really runs: COCO photos of people yield face/body detections."""
    photos = sorted(shared("images", "coco_mini", "val2017").glob("*.jpg"))[:24]
    op = NsfwFilter()
    op.setup()
    out = op.evaluate(pa.table({"image": [p.read_bytes() for p in photos]}))
    classes = {c for row in out.column("nsfw_classes").to_pylist() for c in row}
    assert any(c.startswith("FACE_") for c in classes), classes
    assert sum(s <= 0.5 for s in out.column("nsfw_score").to_pylist()) >= len(photos) - 2


def test_clip_mlp_backend_matches_a_torch_forward(tmp_path):
    torch = pytest.importorskip("torch")
    from curation.ops.clip import embedding_array

    gen = np.random.default_rng(0)
    dims = [16, 12, 8, 1]
    weights = {
        f"W{i}": gen.normal(size=(a, b)).astype(np.float32)
        for i, (a, b) in enumerate(itertools.pairwise(dims))
    }
    weights |= {f"b{i}": gen.normal(size=b).astype(np.float32) for i, b in enumerate(dims[1:])}
    weights |= {
        "mean": gen.normal(size=16).astype(np.float32),
        "var": gen.uniform(0.5, 2, size=16).astype(np.float32),
    }
    path = tmp_path / "head.npz"
    np.savez(path, **weights)
    emb = gen.normal(size=(6, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    rows = [*list(emb), None]
    op = NsfwFilter(backend="clip_mlp", weights=str(path), threshold=0.5)
    op.validate()
    op.setup()
    out = op.evaluate(pa.table({"clip_image_embedding": embedding_array(rows)}))

    net = torch.nn.Sequential(
        torch.nn.Linear(16, 12),
        torch.nn.ReLU(),
        torch.nn.Linear(12, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 1),
    )
    with torch.no_grad():
        for i, layer in enumerate(net[::2]):
            layer.weight.copy_(torch.from_numpy(weights[f"W{i}"].T))
            layer.bias.copy_(torch.from_numpy(weights[f"b{i}"]))
        x = torch.from_numpy(emb.astype(np.float16).astype(np.float32)) - torch.from_numpy(weights["mean"])
        x = x / torch.sqrt(torch.from_numpy(weights["var"]) + 1e-7)
        expected = torch.sigmoid(net(x))[:, 0].numpy()
    np.testing.assert_allclose(
        out.column("nsfw_score").to_numpy(zero_copy_only=False)[:6], expected, rtol=1e-4, atol=1e-5
    )
    assert out.column("_error").to_pylist()[-1] == "missing_embedding"
    assert out.column("_drop").to_pylist()[:6] == [("nsfw" if v > 0.5 else None) for v in expected]
