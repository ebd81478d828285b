"""The tiny offline pool: Fashion-MNIST photos with template captions and the noise a web pool has, planted.

The 60,000 training images are split (seeded) into a clean teacher split and the pool. Pool rows get a caption
from their class name and a template; then a share of them is corrupted, each row recording what was planted in
`planted` (`clean`, `mismatched`, `url_caption`, `tiny`, `duplicate`), so an oracle strategy can select the clean
rows and the table can say what each strategy kept.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.bench.idx import read_idx
from curation.io.atomic import atomic_path

CLASSNAMES = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
CAPTION_TEMPLATES = (
    "a photo of a {}.",
    "a {} on a plain background",
    "product photo of a {}",
    "a black and white picture of a {}",
    "a {} for sale in our shop",
    "this is a {}.",
    "a small grey photo of the {}",
    "new {} in stock",
)
POOL_SCHEMA = pa.schema(
    [
        ("uid", pa.string()),
        ("url", pa.string()),
        ("caption", pa.string()),
        ("image", pa.binary()),
        ("label", pa.int16()),
        ("planted", pa.string()),
    ]
)


@dataclass(frozen=True)
class Noise:
    """Shares of the pool that are planted noise (the rest is clean)."""

    mismatched: float = 0.30
    url_caption: float = 0.10
    tiny: float = 0.05
    duplicate: float = 0.05
    tiny_side: int = 8


def jpeg(pixels: np.ndarray, side: int | None = None) -> bytes:
    """A grayscale image as JPEG bytes, optionally shrunk to `side` pixels square first."""
    from PIL import Image

    img = Image.fromarray(pixels, mode="L")
    if side:
        img = img.resize((side, side), Image.Resampling.BOX)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _junk_caption(rng: np.random.Generator, n: int) -> str:
    kind = rng.integers(3)
    if kind == 0:
        return f"https://cdn{rng.integers(50)}.shop.example.com/img/{rng.integers(1 << 40):x}.jpg"
    if kind == 1:
        return f"IMG_{n:05d}.JPG"
    return f"www.example-store.com/p/{rng.integers(10**6)}"


def load_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 28 x 28, labels N) of `train` or `t10k`."""
    return read_idx(root / f"{split}-images-idx3-ubyte.gz"), read_idx(root / f"{split}-labels-idx1-ubyte.gz")


def build_pool(
    root: Path, out: Path, teacher_rows: int, noise: Noise, seed: int, pool_rows: int | None = None
) -> dict[str, int]:
    """Write `out/pool/part-00000.parquet` (noisy pool) and `out/teacher/part-00000.parquet` (clean split).

    `pool_rows` caps the pool (before duplicates) for quick variants. Returns the count of each planted kind.
    """
    images, labels = load_split(root, "train")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    teacher_ids, pool_ids = order[:teacher_rows], order[teacher_rows:][:pool_rows]
    n = len(pool_ids)
    # one shuffled assignment of kinds, so the planted shares are exact
    kinds = np.array(["clean"] * n, dtype=object)
    cuts = np.cumsum([int(round(share * n)) for share in (noise.mismatched, noise.url_caption, noise.tiny)])
    shuffled = rng.permutation(n)
    kinds[shuffled[: cuts[0]]] = "mismatched"
    kinds[shuffled[cuts[0] : cuts[1]]] = "url_caption"
    kinds[shuffled[cuts[1] : cuts[2]]] = "tiny"
    rows = []
    for pos, src in enumerate(pool_ids):
        label = int(labels[src])
        template = CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))]
        kind = kinds[pos]
        if kind == "mismatched":
            wrong = (label + 1 + rng.integers(len(CLASSNAMES) - 1)) % len(CLASSNAMES)
            caption = template.format(CLASSNAMES[wrong])
        elif kind == "url_caption":
            caption = _junk_caption(rng, pos)
        else:
            caption = template.format(CLASSNAMES[label])
        side = noise.tiny_side if kind == "tiny" else None
        rows.append((f"pool-{pos:06d}", label, caption, jpeg(images[src], side), kind))
    # exact duplicates: copies of randomly chosen rows appended, each copy marked `duplicate`
    for k, src_row in enumerate(rng.choice(n, int(round(noise.duplicate * n)), replace=True)):
        uid, label, caption, data, _ = rows[src_row]
        rows.append((f"dup-{k:06d}", label, caption, data, "duplicate"))
    dup_order = rng.permutation(len(rows))  # duplicates interleaved with the rest, as in a crawl
    _write(out / "pool" / "part-00000.parquet", [rows[i] for i in dup_order])
    teacher = [
        (f"teacher-{i:06d}", int(labels[s]), _caption(rng, int(labels[s])), jpeg(images[s]), "clean")
        for i, s in enumerate(teacher_ids)
    ]
    _write(out / "teacher" / "part-00000.parquet", teacher)
    planted, counts = np.unique([r[4] for r in rows], return_counts=True)
    return {str(k): int(v) for k, v in zip(planted, counts, strict=True)}


def _caption(rng: np.random.Generator, label: int) -> str:
    return CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))].format(CLASSNAMES[label])


def _write(path: Path, rows: list[tuple]) -> None:
    table = pa.table(
        {
            "uid": [r[0] for r in rows],
            "url": [f"https://shop.example.com/{r[0]}.jpg" for r in rows],
            "caption": [r[2] for r in rows],
            "image": [r[3] for r in rows],
            "label": pa.array([r[1] for r in rows], pa.int16()),
            "planted": [r[4] for r in rows],
        },
        schema=POOL_SCHEMA,
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, row_group_size=8192)
