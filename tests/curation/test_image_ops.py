"""Image decoding guards, perceptual hashes, size and caption filters on real photos and crafted bad input."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("imagehash")
from PIL import Image  # noqa: E402

from curation.ops.caption import CaptionFilter  # noqa: E402
from curation.ops.image import ImageDecode, ImageProbe, SizeFilter  # noqa: E402
from curation.ops.image_codec import decode_image, phash64  # noqa: E402
from curation.runner.accounting import StepStats  # noqa: E402
from curation.runner.executor import apply_op  # noqa: E402

BUNDLED = sorted(Path("data/images").glob("*.jpg"))


def _decode(blobs: list[bytes]) -> pa.Table:
    return ImageDecode().map(pa.table({"image": pa.array(blobs, pa.binary())}))


def _jpeg(img: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **params)
    return buf.getvalue()


def _photo(size: tuple[int, int]) -> Image.Image:
    return Image.open(BUNDLED[0]).convert("RGB").resize(size)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_bundled_photos_decode_with_their_sizes():
    out = _decode([p.read_bytes() for p in BUNDLED])
    assert "_error" not in out.column_names
    named = [
        (p, w, h)
        for p, w, h in zip(
            BUNDLED, out.column("width").to_pylist(), out.column("height").to_pylist(), strict=True
        )
    ]
    for path, w, h in named:
        if "_" in path.stem and path.stem.replace("_", "").isdigit():
            assert f"{w}_{h}" == path.stem


def test_bad_payloads_are_row_errors_with_reasons():
    jpeg = BUNDLED[0].read_bytes()
    bomb = _png(Image.new("1", (12_000, 12_000)))
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    out = _decode([jpeg[: len(jpeg) // 2], b"", b"<html>not an image</html>", bomb, svg, jpeg])
    assert out.column("_error").to_pylist() == [
        "image:truncated",
        "image:empty",
        "image:not_an_image",
        "image:decompression_bomb",
        "image:unsupported_svg",
        None,
    ]


def test_modes_are_converted_and_exif_rotation_applied():
    rgba = Image.new("RGBA", (300, 200), (255, 0, 0, 0))
    cmyk = Image.new("CMYK", (300, 200))
    gray16 = Image.new("I;16", (300, 200))
    palette = Image.new("P", (300, 200))
    rotated = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    Image.new("RGB", (300, 200)).save(rotated, format="JPEG", exif=exif.tobytes())
    cmyk_jpeg = io.BytesIO()
    cmyk.save(cmyk_jpeg, format="JPEG")
    out = _decode([_png(rgba), cmyk_jpeg.getvalue(), _png(gray16), _png(palette), rotated.getvalue()])
    assert "_error" not in out.column_names
    assert out.column("width").to_pylist() == [300, 300, 300, 300, 200]
    assert out.column("height").to_pylist() == [200, 200, 200, 200, 300]


def test_phash_is_close_for_resized_copies_and_far_for_other_photos():
    paths = {p.stem: p.read_bytes() for p in BUNDLED}
    out = _decode([paths["resize_no"], paths["resize_keep_ratio"], paths["123_456"], paths["524_316"]])
    h = [v & 0xFFFFFFFFFFFFFFFF for v in out.column("phash").to_pylist()]
    assert bin(h[0] ^ h[1]).count("1") <= 8
    assert bin(h[0] ^ h[2]).count("1") > 8 and bin(h[2] ^ h[3]).count("1") > 8


def test_probe_reads_sizes_from_the_header_and_refuses_what_it_can_without_decoding():
    jpeg = _jpeg(_photo((300, 200)))
    bomb = _png(Image.new("1", (12_000, 12_000)))
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    rotated = _jpeg(_photo((300, 200)), exif=_orientation(6))
    blobs = [jpeg[: len(jpeg) // 2], b"", b"<html>not an image</html>", bomb, svg, jpeg, rotated]
    out = ImageProbe().map(pa.table({"image": pa.array(blobs, pa.binary())}))
    assert out.column("_error").to_pylist() == [
        None,  # truncated pixel data: only image_decode can tell
        "image:empty",
        "image:not_an_image",
        "image:decompression_bomb",
        "image:unsupported_svg",
        None,
        None,
    ]
    assert out.column("width").to_pylist() == [300, None, None, None, None, 300, 200]
    assert out.column("height").to_pylist() == [200, None, None, None, None, 200, 300]
    decoded = _decode([rotated])
    assert (decoded.column("width")[0].as_py(), decoded.column("height")[0].as_py()) == (200, 300)


def _orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def _run_recipe_image_ops(blobs: list[bytes]) -> tuple[pa.Table, list[StepStats]]:
    """image_probe -> size_filter -> image_decode, each applied by the runner as datacomp_basic runs them."""
    batch = pa.table({"image": pa.array(blobs, pa.binary())})
    stats = []
    for op in (ImageProbe(), SizeFilter(), ImageDecode()):
        stats.append(StepStats(op.op_name, "segment"))
        batch = apply_op(op, op.op_name, batch, stats[-1], None)
    return batch, stats


def test_size_is_decided_from_the_header_and_only_kept_images_are_decoded():
    small, large, wide = _jpeg(_photo((120, 90))), _jpeg(_photo((400, 300))), _jpeg(_photo((900, 250)))
    small_corrupt = small[: len(small) // 2]  # header intact, pixel data cut: decoding would fail
    large_truncated = large[: len(large) // 2]
    rotated_tall = _jpeg(_photo((600, 250)), exif=_orientation(8))
    with pytest.raises(ValueError, match="truncated"):
        decode_image(small_corrupt, 89_478_485, 64)
    kept, (probe, size, decode) = _run_recipe_image_ops(
        [small_corrupt, large_truncated, wide, large, rotated_tall, b"junk"]
    )
    assert probe.errors == {"image_probe:image:not_an_image": 1}
    assert size.dropped == {"size_filter:min_side": 1, "size_filter:aspect_ratio": 1}  # never decoded
    assert decode.rows_in == 3 and decode.errors == {"image_decode:image:truncated": 1}
    assert kept.column("width").to_pylist() == [400, 250] and kept.column("height").to_pylist() == [300, 600]
    errors = sum(sum(s.errors.values()) for s in (probe, size, decode))
    dropped = sum(sum(s.dropped.values()) for s in (probe, size, decode))
    assert probe.rows_in == kept.num_rows + dropped + errors == 6


def test_phash64_is_imagehash_phash():
    import imagehash

    for path in BUNDLED:
        img, _, _ = decode_image(path.read_bytes(), 89_478_485, 64)
        assert phash64(img) == int(str(imagehash.phash(img)), 16)


def test_size_filter_datacomp_rules():
    op = SizeFilter()
    table = pa.table({"width": [300, 150, 900, 400], "height": [250, 400, 250, 400]})
    assert op.evaluate(table).column("_drop").to_pylist() == [None, "min_side", "aspect_ratio", None]


def test_caption_filter_rules():
    captions = [
        "a dog on a red sofa",
        "two words",
        "https://example.com/img.jpg",
        "IMG_2301.JPG",
        "!!! ### $$$ ok",
        "a b c",
    ]
    out = CaptionFilter().evaluate(pa.table({"caption": captions}))
    assert out.column("_drop").to_pylist() == [
        None,
        "min_words",
        "url_caption",
        "file_name_caption",
        "special_char_ratio",
        "min_chars",
    ]


def test_every_real_image_decodes_or_is_rejected_with_a_reason(shared):
    root = shared("images")
    files = [
        p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".gif", ".svg", ".webp")
    ]
    assert len(files) > 300
    out = _decode([p.read_bytes() for p in files])
    errors = out.column("_error").to_pylist() if "_error" in out.column_names else [None] * len(files)
    reasons = {e for e in errors if e}
    assert reasons <= {"image:unsupported_svg", "image:truncated", "image:undecodable", "image:not_an_image"}
    assert sum(e is None for e in errors) >= 0.95 * len(files)
    pool = pq.read_table(root / "pairs_sample.parquet", columns=["jpg"])
    pool_out = _decode(pool.column("jpg").to_pylist())
    assert "_error" not in pool_out.column_names  # the pool's images all decode (its README says so)


@pytest.mark.slow
def test_datacomp_basic_recipe_on_the_real_pool(ray_local, shared, tmp_path):
    from curation.recipe import load_recipe
    from curation.runner.run import run_recipe

    pool = shared("images", "pairs_sample.parquet")
    result = run_recipe(
        load_recipe("pipelines/datacomp_basic.yaml", [f"input.paths=['{pool}']"]), output=str(tmp_path / "o")
    )
    totals = result.stats["totals"]
    assert totals["identity_holds"] and totals["input_records"] == 1055
    out = pq.read_table(tmp_path / "o" / "data")
    assert {"uid", "caption", "image", "width", "height", "phash", "lang"} <= set(out.column_names)
    assert min(out.column("width").to_pylist() + out.column("height").to_pylist()) >= 200
    assert len(set(out.column("phash").to_pylist())) == out.num_rows  # the 5-caption COCO copies collapsed
    steps = {s["step"]: s for s in result.stats["steps"]}
    assert steps["phash_dedup"]["dropped"]


def test_resize_downscales_large_images_and_keeps_small_ones():
    from curation.ops.image import ImageResize

    small, large = (
        Path("data/images/123_456.jpg").read_bytes(),
        Path("data/images/resize_keep_ratio.jpg").read_bytes(),
    )
    out = ImageResize(max_side=300).map(pa.table({"image": [small, large, b"junk"]}))
    assert out.column("width").to_pylist()[:2] == [81, 218] and out.column("height").to_pylist()[:2] == [
        300,
        300,
    ]
    assert out.column("_error").to_pylist() == [None, None, "image:not_an_image"]
    untouched = ImageResize(max_side=1000).map(pa.table({"image": [small]}))
    assert untouched.column("image")[0].as_py() == small
    decoded = _decode([out.column("image")[1].as_py()])
    assert decoded.column("width").to_pylist() == [218]
