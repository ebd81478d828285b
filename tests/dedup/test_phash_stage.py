"""phash_dedup on real photos: copies, resized and re-encoded versions cluster at radius 8, unrelated photos not."""

from __future__ import annotations

import io

import imagehash
import numpy as np
import pyarrow as pa
import pytest
from dedup_corpus import run_stage
from PIL import Image

from curation.dedup.candidates import hamming_edges
from curation.dedup.phash import PhashDedup, chunk_keys, hash_batch, image_phash

pytestmark = pytest.mark.shared_data

SAME = ["resize_no.jpg", "resize_keep_ratio.jpg", "resize_keep_ratio_largest.jpg", "blurred.png"]
OTHERS = ["123_456.jpg", "208_495.jpg", "321_421.jpg", "416_264.jpg", "456_123.jpg", "524_316.jpg"]


def _reencoded(data: bytes, scale: float, quality: int) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        small = img.convert("RGB").resize((int(img.width * scale), int(img.height * scale)))
    out = io.BytesIO()
    small.save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture(scope="module")
def photos(shared):
    base = shared("images", "img2dataset_test_photos")
    original = (base / "blur_test_files" / "original.png").read_bytes()
    rows = [("original", original), ("copy", original), ("small_q40", _reencoded(original, 0.33, 40))]
    rows += [(name, (base / "blur_test_files" / name).read_bytes()) for name in SAME]
    rows += [(name, (base / "resize_test_image" / name).read_bytes()) for name in OTHERS]
    rows += [(p.name, p.read_bytes()) for p in sorted(shared("images", "skimage_photos").glob("*.png"))[:8]]
    return rows


def test_phash_matches_imagehash_hex_and_column_types(photos):
    data = photos[0][1]
    with Image.open(io.BytesIO(data)) as img:
        # draft decoding (as image_decode does): within a few bits of imagehash on the full image
        assert bin(image_phash(data) ^ int(str(imagehash.phash(img)), 16)).count("1") <= 4
    images = pa.array([data, data, b"not an image", None], pa.binary())
    value = image_phash(data)
    cases = {
        "uint64": pa.array([value, None, None, None], pa.uint64()),
        "hex": pa.array([f"{value:016x}", "not-hex-at-all!!", None, None]),
        "float": pa.array([1.5, 2.5, None, None]),  # wrong type: hashed from the image instead
    }
    for name, column in cases.items():
        hashes, valid, errors = hash_batch(pa.table({"phash": column, "image": images}), "phash", "image")
        assert hashes[0] == value and valid[0], name
        assert errors[2] == "image:not_an_image" and not valid[3], name
        assert errors[1] == ("bad_phash" if name == "hex" else None), name
    hashes, valid, errors = hash_batch(pa.table({"image": images}), "phash", "image")  # missing column
    assert hashes[1] == value and valid.tolist() == [True, True, False, False]


def test_pigeonhole_finds_every_pair_within_the_radius():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, size=40, dtype=np.uint64)
    flips = [np.uint64(sum(1 << int(b) for b in rng.choice(64, size=k, replace=False))) for k in range(12)]
    hashes = np.concatenate([base, base[:12] ^ np.array(flips, dtype=np.uint64)])
    nodes = np.arange(len(hashes), dtype=np.int64)
    keys = chunk_keys(hashes, 8, None)
    rows = pa.table({"key": keys.reshape(-1), "node": np.repeat(nodes, 9), "hash": np.repeat(hashes, 9)})
    found = {tuple(e) for e in zip(*hamming_edges(rows, 0, 8).to_pydict().values(), strict=True)}
    truth = {
        (int(j), int(i))
        for i in nodes
        for j in nodes
        if j > i and np.bitwise_count(hashes[i] ^ hashes[j]) <= 8
    }
    assert found == truth and len(truth) >= 9


def test_copies_of_one_image_are_a_star_not_a_clique():
    """5,000 rows with one hash in one bucket give 4,999 edges (all pairs: 12.5M), and the same components as
    all pairs within the radius would."""
    rng = np.random.default_rng(1)
    value = np.uint64(rng.integers(0, 2**63))
    near = value ^ np.uint64(0b111)  # 3 bits away
    far = value ^ np.uint64((1 << 64) - 1)  # 64 bits away
    hashes = np.array([value] * 5_000 + [near, near, far], dtype=np.uint64)
    rows = pa.table({"key": np.zeros(len(hashes), np.uint64), "node": np.arange(len(hashes)), "hash": hashes})
    edges = hamming_edges(rows, 0, 8).to_pydict()
    pairs = list(zip(edges["src"], edges["dst"], strict=True))
    assert (
        len(pairs) == 4_999 + 1 + 1
    )  # copies to node 0, the second `near` to the first, the first to node 0
    assert all(s > d for s, d in pairs)
    parent = list(range(len(hashes)))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for s, d in pairs:
        parent[find(s)] = find(d)
    assert {find(i) for i in range(5_002)} == {find(0)} and find(5_002) != find(0)


def test_near_duplicate_photos_form_one_cluster(ray_local, photos, tmp_path):
    names = [n for n, _ in photos] + ["broken", "missing"]
    images = [d for _, d in photos] + [b"\x89PNG broken", None]
    table = pa.table({"id": names, "image": pa.array(images, pa.binary())})
    out = run_stage(PhashDedup(radius=8), table, tmp_path)
    drop = dict(zip(names, out.column("_drop").to_pylist(), strict=True))
    error = dict(zip(names, out.column("_error").to_pylist(), strict=True))
    dropped = {n for n, d in drop.items() if d}
    assert dropped == {"copy", "small_q40", *SAME}
    assert {drop[n] for n in dropped} == {"near_duplicate_image"}
    assert error["broken"] == "image:not_an_image" and error["missing"] is None and drop["missing"] is None
