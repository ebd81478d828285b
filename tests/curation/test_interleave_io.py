"""Interleaved readers (OBELICS-style parquet, WebDataset), export to WebDataset, and CLIP similarity -> assignment
through a recipe run (actor pool, a tiny open_clip model loaded by path)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from curation.io.interleaved import (
    export_interleaved_webdataset,
    read_interleaved_webdataset,
    read_obelics,
    to_table,
)
from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit
from curation.recipe import parse_recipe
from curation.runner.run import run_recipe

IMAGES = sorted(Path("data/images").glob("*.jpg"))


def test_obelics_parquet_parallel_lists_with_nulls(tmp_path):
    jpg = IMAGES[0].read_bytes()
    table = pa.table(
        {
            "texts": [["Intro text here.", None, "After the image.", None], [None, None], ["a", "b"]],
            "images": [[None, "http://x/1.jpg", None, "http://x/2.jpg"], [None, None], [None]],
            "general_metadata": ['{"url": "http://x/page"}', "{}", "{}"],
        }
    )
    pq.write_table(table, tmp_path / "o.parquet")
    stats = ReaderStats()
    docs = pa.concat_tables(
        read_obelics(Unit(0, str(tmp_path / "o.parquet"), "obelics", row_group=0), stats, 8)
    )
    assert (stats.records, dict(stats.errors)) == (3, {"obelics:texts_images_not_parallel": 1})
    first, second = docs.to_pylist()
    assert first["texts"] == ["Intro text here.", "After the image."] and first["url"] == "http://x/page"
    assert [(i["url"], i["text_index"]) for i in first["images"]] == [
        ("http://x/1.jpg", 1),
        ("http://x/2.jpg", 2),
    ]
    assert second["texts"] == [] and second["images"] == []
    bytes_table = pa.table({"texts": [["t", None]], "images": [[None, {"bytes": jpg, "path": "p.jpg"}]]})
    pq.write_table(bytes_table, tmp_path / "b.parquet")
    doc = pa.concat_tables(read_obelics(Unit(0, str(tmp_path / "b.parquet"), "obelics"), ReaderStats(), 8))
    assert doc.to_pylist()[0]["images"][0]["bytes"] == jpg


def _interleaved_run(tmp_path: Path, docs: list[dict]) -> Path:
    out = tmp_path / "run"
    (out / "data").mkdir(parents=True)
    pq.write_table(to_table(docs), out / "data" / "part-00000.parquet")
    return out


def test_webdataset_export_round_trip(tmp_path):
    jpg, png = IMAGES[0].read_bytes(), Path("data/images/resize_no.jpg").read_bytes()
    docs = [
        {"doc_id": "a", "url": "http://a", "texts": ["one", "two"],
         "images": [{"url": "http://a/1", "bytes": jpg, "text_index": 1, "similarity": 0.5, "width": 3, "height": 4,
                     "alt": "x"}, {"url": "http://a/2", "text_index": 2}]},
        {"doc_id": "b", "url": None, "texts": ["only text"], "images": [{"url": "u", "bytes": png, "text_index": 0}]},
    ]  # fmt: skip
    shards = export_interleaved_webdataset(
        _interleaved_run(tmp_path, docs), tmp_path / "wds", docs_per_shard=1
    )
    assert len(shards) == 2
    stats = ReaderStats()
    back = [d for s in shards for t in read_interleaved_webdataset(Unit(0, str(s), "webdataset_interleaved"), stats, 8)
            for d in t.to_pylist()]  # fmt: skip
    assert stats.records == 2 and not stats.errors
    for want, got in zip(docs, back, strict=True):
        assert (got["doc_id"], got["url"], got["texts"]) == (want["doc_id"], want["url"], want["texts"])
        for w, g in zip(want["images"], got["images"], strict=True):
            assert {k: g[k] for k in w} == pytest.approx(w)


def test_broken_webdataset_samples_are_counted(tmp_path):
    import io
    import tarfile

    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in (("a.json", b"{oops"), ("b.json", b'{"texts": ["t"], "images": [{"file": "0.jpg"}]}'),
                           ("c.txt", b"no json"), ("d.json", b'{"texts": "t"}')):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    stats = ReaderStats()
    assert not list(read_interleaved_webdataset(Unit(0, str(path), "webdataset_interleaved"), stats, 8))
    assert dict(stats.errors) == {
        "wds:bad_json": 1, "wds:image_file_missing": 1, "wds:no_json": 1, "wds:not_interleaved": 1,
    }  # fmt: skip


@pytest.mark.slow
def test_clip_similarity_then_assignment_in_a_run(ray_local, tmp_path):
    """WebDataset documents -> CLIP matrix (tiny open_clip by path, actor pool) -> mmc4_assign; the matrix equals
    a direct forward of the same model and the assignment is the optimum on it."""
    pytest.importorskip("open_clip")
    sys.path.insert(0, str(Path(__file__).parent))
    from clip_fixtures import build_tiny_clip

    model = build_tiny_clip(tmp_path / "tiny-vit")
    images = [p.read_bytes() for p in IMAGES[:5]]
    docs = [
        {"doc_id": f"d{k}", "texts": [f"sentence {k} {j}" for j in range(k % 3 + 1)],
         "images": [{"url": f"http://i/{k}/{j}", "bytes": images[(k + j) % 5]} for j in range(k % 4)]}
        for k in range(9)
    ]  # fmt: skip
    docs[0]["images"].append({"url": "http://i/broken", "bytes": b"not an image"})
    export_interleaved_webdataset(_interleaved_run(tmp_path, docs), tmp_path / "wds", docs_per_shard=4)
    recipe = parse_recipe(
        {
            "name": "clip_assign",
            "input": {
                "format": "webdataset_interleaved",
                "paths": [str(tmp_path / "wds" / "*.tar")],
                "batch_rows": 3,
            },
            "output": {"rejects": True},
            "steps": [
                {"interleaved_clip_similarity": {"model": str(model), "pretrained": None, "batch_size": 4}},
                {"mmc4_assign": {}},
            ],
        }
    )
    result = run_recipe(recipe, output=str(tmp_path / "out"))
    assert result.stats["totals"]["identity_holds"]
    out = pads.dataset(tmp_path / "out" / "data").to_table().to_pylist()
    assert [d["doc_id"] for d in out] == [f"d{k}" for k in range(9)]
    assert out[0]["dropped_images"] == [
        {"url": "http://i/broken", "reason": "interleaved_clip_similarity:image:not_an_image"}
    ]
    import open_clip
    import torch
    from PIL import Image

    net, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{model}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{model}")
    net.eval()
    doc = out[7]  # 3 images, 2 sentences
    with torch.no_grad():
        pix = torch.stack(
            [
                preprocess(Image.open(__import__("io").BytesIO(i["bytes"])).convert("RGB"))
                for i in doc["images"]
            ]
        )
        img = torch.nn.functional.normalize(net.encode_image(pix), dim=-1)
        txt = torch.nn.functional.normalize(net.encode_text(tokenizer(doc["texts"])), dim=-1)
    sim = (img @ txt.T).numpy()
    np.testing.assert_allclose(np.asarray(doc["similarity_matrix"]), sim, atol=1e-5)
    assert sorted({i["text_index"] for i in doc["images"]}) == [0, 1]
