"""CLIP image-text similarity with open_clip: `clip_score` and, on request, the normalised image embedding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.models import load_open_clip, preflight_open_clip
from curation.ops.base import ERROR, POSITIVE, Filter, register, set_column, with_drop
from curation.ops.image_codec import decode_image

EMBEDDING = "clip_image_embedding"


def embedding_array(rows: list[np.ndarray | None]) -> pa.FixedSizeListArray:
    """Fixed-size float16 lists (null where a row has no embedding)."""
    dim = next((r.shape[0] for r in rows if r is not None), 0)
    flat = np.zeros((len(rows), dim), np.float16)
    for i, r in enumerate(rows):
        if r is not None:
            flat[i] = r
    mask = pa.array([r is None for r in rows])
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1), pa.float16()), dim, mask=mask)


def embeddings_of(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(L2-normalised float32 matrix, valid mask) from a (fixed-size) list column; null rows are zeros."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
    rows = [np.asarray(v, np.float32) if v is not None else None for v in arr.to_pylist()]
    dim = next((len(r) for r in rows if r is not None), 0)
    mat = np.zeros((len(rows), dim), np.float32)
    for i, r in enumerate(rows):
        if r is not None:
            mat[i] = r
    norms = np.linalg.norm(mat, axis=1, keepdims=True)
    return mat / np.where(norms == 0, 1, norms), valid & (norms[:, 0] > 0)


@register("clip_score")
@dataclasses.dataclass
class ClipScore(Filter):
    """Cosine similarity of the normalised open_clip image and caption embeddings, in `clip_score`.

    `model`/`pretrained`: an open_clip name and tag (`ViT-B-32` / `laion2b_s34b_b79k`), a name and a local
    checkpoint path, or a local model folder (open_clip_config.json + weights). Runs batched in the segment's
    actor pool, on the GPU when the cluster has one. `min_score` drops rows below it (LAION: 0.28 for ViT-B/32,
    0.3 for ViT-L/14; unset keeps all), rule `low_clip_score`. `write_embedding: true` also writes the normalised
    image embedding as a fixed-size float16 list in `clip_image_embedding`, for SemDeDup and NSFW heads.
    """

    requires = ("{image_column}", "{caption_column}")
    provides = ("clip_score", EMBEDDING)
    uses_gpu = True

    ranges = {"batch_size": POSITIVE, "max_pixels": POSITIVE, "min_score": (-1, 1)}  # min_score: a cosine

    model: str = "ViT-B-32"
    pretrained: str | None = "laion2b_s34b_b79k"
    image_column: str = "image"
    caption_column: str = "caption"
    batch_size: int = 64
    min_score: float | None = None
    write_embedding: bool = False
    max_pixels: int = 89_478_485

    def preflight(self) -> None:
        preflight_open_clip(self.model, self.pretrained)

    def provided_columns(self) -> tuple[str, ...]:
        return ("clip_score", EMBEDDING) if self.write_embedding else ("clip_score",)

    def setup(self) -> None:
        import torch

        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        self._net, self._preprocess, self._tokenizer = load_open_clip(
            self.model, self.pretrained, self._device
        )

    def _embed(self, images: list, captions: list[str]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode():
            pixels = torch.stack([self._preprocess(img) for img in images]).to(self._device)
            tokens = self._tokenizer(captions).to(self._device)
            img = torch.nn.functional.normalize(self._net.encode_image(pixels).float(), dim=-1)
            txt = torch.nn.functional.normalize(self._net.encode_text(tokens).float(), dim=-1)
        return img.cpu().numpy(), txt.cpu().numpy()

    def evaluate(self, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        scores: list[float | None] = [None] * n
        embeddings: list[np.ndarray | None] = [None] * n
        errors: list[str | None] = [None] * n
        decoded: list[tuple[int, object, str]] = []
        captions = batch.column(self.caption_column).to_pylist()
        for i, data in enumerate(batch.column(self.image_column).to_pylist()):
            try:
                img, _, _ = decode_image(data or b"", self.max_pixels, draft_side=0)
                decoded.append((i, img, captions[i] or ""))
            except ValueError as exc:
                errors[i] = f"image:{exc}"
        for start in range(0, len(decoded), self.batch_size):
            chunk = decoded[start : start + self.batch_size]
            img, txt = self._embed([c[1] for c in chunk], [c[2] for c in chunk])
            for (row, _, _), ie, te in zip(chunk, img, txt, strict=True):
                scores[row] = float(np.dot(ie, te))
                embeddings[row] = ie
        batch = set_column(batch, "clip_score", pa.array(scores, pa.float32()))
        if self.write_embedding:
            batch = set_column(batch, EMBEDDING, embedding_array(embeddings))
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, pa.string()))
        floor = self.min_score
        reasons = [None if s is None or floor is None or s >= floor else "low_clip_score" for s in scores]
        return with_drop(batch, reasons)
