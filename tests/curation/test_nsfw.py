"""NudeNet runs offline with its shipped model on real photos; the image score follows the documented rule."""

from __future__ import annotations

from pathlib import Path

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
