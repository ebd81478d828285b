"""Guarded image decoding (size, perceptual hash) and the size/aspect filter."""

from __future__ import annotations

import dataclasses
import io
import warnings

import numpy as np
import pyarrow as pa

from curation.ops.base import ERROR, Filter, Mapper, register, set_column, with_drop

_SVG_HEAD = (b"<svg", b"<?xml")


def phash64(img) -> int:  # noqa: ANN001 - PIL image
    """64-bit pHash (imagehash's 8x8 DCT hash); bit i is the i-th bit of the 8x8 array, most significant first."""
    import imagehash

    bits = imagehash.phash(img).hash.reshape(-1)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def decode_image(data: bytes, max_pixels: int, draft_side: int):  # noqa: ANN201 - PIL image
    """Open and decode `data` as little as needed; raises ValueError with a reason for anything unusable.

    Checks the pixel count before decoding (decompression bombs), decodes JPEG in draft mode at no less than
    `draft_side` pixels per side, takes the first frame of animations, applies the EXIF orientation and converts
    palette, alpha, CMYK, 16-bit and grayscale images to RGB (alpha composited on white). Returns the image and
    the full-resolution width and height after EXIF rotation.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ValueError("empty")
    if data.lstrip()[:5].lower().startswith(_SVG_HEAD):
        raise ValueError("unsupported_svg")
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ValueError("not_an_image") from None
    width, height = img.size
    if width * height > max_pixels:
        raise ValueError("decompression_bomb")
    if img.format == "JPEG" and draft_side:
        scale = max(1, min(width, height) // draft_side)
        img.draft("RGB", (width // scale, height // scale))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.seek(0)
            img.load()
    except (OSError, SyntaxError, Image.DecompressionBombWarning) as exc:
        raise ValueError("truncated" if "truncated" in str(exc).lower() else "undecodable") from None
    if img.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientations that swap the axes
        width, height = height, width
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        img = canvas
    elif img.mode == "I;16" or img.mode == "I":
        img = Image.fromarray(
            (np.asarray(img, dtype=np.float64) / 256).clip(0, 255).astype(np.uint8)
        ).convert("RGB")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    return img, width, height


@register("image_decode")
@dataclasses.dataclass
class ImageDecode(Mapper):
    """Decode `column` safely; write `width`, `height` (after EXIF rotation) and, with `phash: true`, `phash`.

    Rows whose bytes are empty, not an image, SVG (`unsupported_svg`), truncated, undecodable or larger than
    `max_pixels` (`decompression_bomb`, default 89.5 MP like Pillow) are errors with that reason, never a crash.
    JPEGs decode in DCT-domain draft mode at >= `draft_side` (64) px per side: pHash works on 32x32, and the
    draft hash equals imagehash's full-size pHash on 86 % of the pool images, at most 4 bits off.
    """

    requires = ("image",)
    provides = ("width", "height", "phash")

    column: str = "image"
    phash: bool = True
    max_pixels: int = 89_478_485
    draft_side: int = 64

    def map(self, batch: pa.Table) -> pa.Table:
        widths, heights, hashes, errors = [], [], [], []
        for data in batch.column(self.column).to_pylist():
            try:
                img, width, height = decode_image(data or b"", self.max_pixels, self.draft_side)
                widths.append(width)
                heights.append(height)
                hashes.append(np.uint64(phash64(img)).view(np.int64).item() if self.phash else None)
                errors.append(None)
            except ValueError as exc:
                widths.append(None)
                heights.append(None)
                hashes.append(None)
                errors.append(f"image:{exc}")
        batch = set_column(batch, "width", pa.array(widths, pa.int32()))
        batch = set_column(batch, "height", pa.array(heights, pa.int32()))
        if self.phash:
            batch = set_column(batch, "phash", pa.array(hashes, pa.int64()))
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, pa.string()))
        return batch


@register("size_filter")
@dataclasses.dataclass
class SizeFilter(Filter):
    """Drop images that are too small or too elongated, from the `width`/`height` columns.

    `min_side` (DataComp basic: 200; MMC4: 150) drops rule `min_side`; `max_aspect_ratio` bounds
    max(w,h)/min(w,h) (DataComp basic: 3.0; MMC4's 0.5-2 range is 2.0) with rule `aspect_ratio`;
    `max_side` (0 = none) drops rule `max_side`.
    """

    requires = ("width", "height")

    min_side: int = 200
    max_side: int = 0
    max_aspect_ratio: float = 3.0

    def validate(self) -> None:
        if self.max_aspect_ratio < 1:
            raise ValueError("max_aspect_ratio is max(w,h)/min(w,h) and must be >= 1")

    def evaluate(self, batch: pa.Table) -> pa.Table:
        reasons = []
        for w, h in zip(batch.column("width").to_pylist(), batch.column("height").to_pylist(), strict=True):
            if w is None or h is None or min(w, h) < self.min_side:
                reasons.append("min_side")
            elif self.max_side and max(w, h) > self.max_side:
                reasons.append("max_side")
            elif max(w, h) / min(w, h) > self.max_aspect_ratio:
                reasons.append("aspect_ratio")
            else:
                reasons.append(None)
        return with_drop(batch, reasons)


@register("image_resize")
@dataclasses.dataclass
class ImageResize(Mapper):
    """Downscale images whose longer side exceeds `max_side` and re-encode them as JPEG (`quality`).

    Smaller images are left byte for byte unless `reencode: true`. Updates `width` and `height`; undecodable
    images are row errors as in `image_decode`.
    """

    requires = ("image",)
    provides = ("image", "width", "height")

    column: str = "image"
    max_side: int = 512
    quality: int = 95
    reencode: bool = False
    max_pixels: int = 89_478_485

    def validate(self) -> None:
        if self.max_side < 1 or not 1 <= self.quality <= 100:
            raise ValueError("max_side must be >= 1 and quality within 1-100")

    def map(self, batch: pa.Table) -> pa.Table:
        from PIL import Image

        blobs, widths, heights, errors = [], [], [], []
        for data in batch.column(self.column).to_pylist():
            try:
                img, width, height = decode_image(data or b"", self.max_pixels, draft_side=self.max_side)
            except ValueError as exc:
                blobs.append(data)
                widths.append(None)
                heights.append(None)
                errors.append(f"image:{exc}")
                continue
            scale = self.max_side / max(width, height)
            if scale < 1 or self.reencode:
                size = (max(1, round(width * min(scale, 1))), max(1, round(height * min(scale, 1))))
                out = io.BytesIO()
                img.resize(size, Image.Resampling.LANCZOS).save(out, format="JPEG", quality=self.quality)
                data, (width, height) = out.getvalue(), size
            blobs.append(data)
            widths.append(width)
            heights.append(height)
            errors.append(None)
        batch = set_column(batch, self.column, pa.array(blobs, pa.binary()))
        batch = set_column(batch, "width", pa.array(widths, pa.int32()))
        batch = set_column(batch, "height", pa.array(heights, pa.int32()))
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, pa.string()))
        return batch
