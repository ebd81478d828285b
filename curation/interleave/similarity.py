"""Image x sentence CLIP similarity of interleaved documents, for `mmc4_assign` when the input has no matrix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from curation.interleave.document import MATRIX, SIMILARITY_MATRIX, split_images
from curation.models import load_open_clip, preflight_open_clip
from curation.ops.base import POSITIVE, Mapper, register
from curation.ops.image_codec import decode_image
from curation.rows import set_column


@register("interleaved_clip_similarity")
@dataclasses.dataclass
class InterleavedClipSimilarity(Mapper):
    """Write `similarity_matrix` (images x texts): cosine similarity of open_clip image and sentence embeddings.

    Images and sentences of all the documents of a batch are embedded together, `batch_size` at a time, in the
    segment's actor pool (on the GPU when the cluster has one). MMC4 used CLIP ViT-L/14 (`ViT-L-14` /
    `openai`). `model` / `pretrained` as in `clip_score` (a name and tag, a local checkpoint or a local folder).
    An image without bytes or that does not decode goes to `dropped_images` (`no_bytes`, `image:<reason>`).
    """

    ranges = {"batch_size": POSITIVE, "max_pixels": POSITIVE}

    requires = ("texts", "images")
    provides = (SIMILARITY_MATRIX, "images", "dropped_images")
    uses_gpu = True

    model: str = "ViT-L-14"
    pretrained: str | None = "openai"
    batch_size: int = 64
    max_pixels: int = 89_478_485

    def preflight(self) -> None:
        preflight_open_clip(self.model, self.pretrained)

    def setup(self) -> None:
        import torch

        self._device = "cuda" if torch.cuda.is_available() else "cpu"
        self._net, self._preprocess, self._tokenizer = load_open_clip(
            self.model, self.pretrained, self._device
        )

    def _encode(self, items: list, image: bool) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                if image:
                    emb = self._net.encode_image(
                        torch.stack([self._preprocess(i) for i in chunk]).to(self._device)
                    )
                else:
                    emb = self._net.encode_text(self._tokenizer(chunk).to(self._device))
                out.append(torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def map(self, batch: pa.Table) -> pa.Table:
        docs_images = batch.column("images").to_pylist()
        docs_texts = batch.column("texts").to_pylist()
        keep, reasons, pixels, sentences = [], [], [], []
        for images in docs_images:
            flags, why = [], []
            for img in images or []:
                reason = None
                if not img.get("bytes"):
                    reason = "no_bytes"
                else:
                    try:
                        pixels.append(decode_image(img["bytes"], self.max_pixels, draft_side=0)[0])
                    except ValueError as exc:
                        reason = f"image:{exc}"
                flags.append(reason is None)
                why.append(reason)
            keep.append(flags)
            reasons.append(why)
        for texts in docs_texts:
            sentences.extend(texts or [])
        img_emb = self._encode(pixels, image=True)
        txt_emb = self._encode(sentences, image=False)
        matrices, i, t = [], 0, 0
        for flags, texts in zip(keep, docs_texts, strict=True):
            n_img, n_txt = sum(flags), len(texts or [])
            sim = (
                img_emb[i : i + n_img] @ txt_emb[t : t + n_txt].T
                if n_img and n_txt
                else np.zeros((n_img, n_txt))
            )
            matrices.append(sim.astype(np.float32).tolist())
            i, t = i + n_img, t + n_txt
        batch = split_images(batch, keep, reasons, self.op_name)
        return set_column(batch, SIMILARITY_MATRIX, pa.array(matrices, MATRIX))
