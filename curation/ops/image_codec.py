"""Guarded image reading: header probe, pixel decode (as little as needed) and the 64-bit perceptual hash.

Every function raises ValueError with a short reason (`empty`, `unsupported_svg`, `not_an_image`,
`decompression_bomb`, `truncated`, `undecodable`) for input it cannot use; the ops turn it into `image:<reason>`.
"""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

_SVG_HEAD = (b"<svg", b"<?xml")
_ORIENTATION = 0x0112
# EXIF orientation -> PIL `Image.Transpose` member (ImageOps.exif_transpose's table); 5-8 swap the axes.
_TRANSPOSE = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


def _dct_rows(n: int, k: int) -> np.ndarray:
    """First `k` rows of the unnormalised DCT-II matrix of size `n` (scipy.fftpack.dct's default)."""
    i = np.arange(n)
    return 2 * np.cos(np.pi * np.arange(k)[:, None] * (2 * i[None, :] + 1) / (2 * n))


_DCT8 = _dct_rows(32, 8)


def open_image(data: bytes, max_pixels: int) -> tuple[Image.Image, int, int]:
    """Read only the header of `data`: the unloaded image and its width and height after EXIF rotation.

    Refuses empty input, SVG, non-images and images of more than `max_pixels` pixels (decompression bombs)
    without decoding a pixel. The orientation is the one the header carries (EXIF or XMP; a PNG eXIf chunk
    placed after the pixel data is not read), the same one `load_image` applies.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValueError("empty")
    if data.lstrip()[:5].lower().startswith(_SVG_HEAD):
        raise ValueError("unsupported_svg")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is checked below
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ValueError("decompression_bomb") from None
    except UnidentifiedImageError:
        raise ValueError("not_an_image") from None
    except (OSError, SyntaxError) as exc:
        raise ValueError(_reason(exc)) from None
    width, height = img.size
    if width * height > max_pixels:
        raise ValueError("decompression_bomb")
    if _orientation(img) in (5, 6, 7, 8):
        width, height = height, width
    return img, width, height


def _reason(exc: Exception) -> str:
    return "truncated" if "truncated" in str(exc).lower() else "undecodable"


def _orientation(img: Image.Image) -> int:
    """EXIF orientation from the header (the base `getexif`: PNG's would decode the pixels to look further)."""
    from PIL import Image

    return Image.Image.getexif(img).get(_ORIENTATION, 1)


def load_image(img: Image.Image, draft_side: int, gray: bool = False) -> Image.Image:
    """Decode the pixels of an `open_image` result: first frame, EXIF orientation applied.

    JPEGs decode in DCT-domain draft mode at no less than `draft_side` px per side (0 = full size); with
    `gray`, YCbCr JPEGs come out of libjpeg as luma only (mode L). Truncated or corrupt data raises ValueError.
    """
    from PIL import Image

    if img.format == "JPEG" and (draft_side or gray):
        width, height = img.size
        scale = max(1, min(width, height) // draft_side) if draft_side else 1
        img.draft("L" if gray else "RGB", (width // scale, height // scale))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.seek(0)
            img.load()
    except (OSError, SyntaxError, Image.DecompressionBombWarning) as exc:
        raise ValueError(_reason(exc)) from None
    method = _TRANSPOSE.get(_orientation(img))
    return img if method is None else img.transpose(Image.Transpose[method])


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB from any mode: alpha composited on white, 16/32-bit integers scaled to 8 bits, the rest converted."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    if img.mode in ("I;16", "I"):
        scaled = (np.asarray(img, dtype=np.float64) / 256).clip(0, 255).astype(np.uint8)
        return Image.fromarray(scaled).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def decode_image(data: bytes, max_pixels: int, draft_side: int) -> tuple[Image.Image, int, int]:
    """Open and decode `data` to RGB as little as needed; raises ValueError with a reason for anything unusable.

    Checks the pixel count before decoding (decompression bombs), decodes JPEG in draft mode at no less than
    `draft_side` pixels per side, takes the first frame of animations, applies the EXIF orientation and converts
    palette, alpha, CMYK, 16-bit and grayscale images to RGB (alpha composited on white). Returns the image and
    the full-resolution width and height after EXIF rotation.
    """
    img, width, height = open_image(data, max_pixels)
    return to_rgb(load_image(img, draft_side)), width, height


def phash64(img: Image.Image) -> int:
    """64-bit pHash, imagehash's `phash` computed with a DCT matrix; bit i is the i-th bit of its 8x8 array.

    Grayscale 32x32 Lanczos thumbnail, 2-D DCT-II, the top-left 8x8 coefficients above their median.
    """
    from PIL import Image

    gray = img if img.mode == "L" else img.convert("L")
    pixels = np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = _DCT8 @ pixels @ _DCT8.T
    return int.from_bytes(np.packbits(low > np.median(low)).tobytes(), "big")


def hash_image(img: Image.Image, draft_side: int) -> int:
    """pHash of an `open_image` result, decoded for the hash alone.

    YCbCr and gray JPEGs decode straight to luma in draft mode (>= `draft_side` px per side); other images go
    through `to_rgb` first, so transparency is hashed on white as in `decode_image`.
    """
    img = load_image(img, draft_side, gray=True)
    return phash64(img if img.mode == "L" else to_rgb(img))
