"""`decontaminate`: drop training rows that overlap an evaluation set, by text n-grams and by image pHash."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import xxhash

from curation.instruct.dedup import image_phash
from curation.instruct.evalsets import load_eval_set, row_texts
from curation.ops.base import AT_LEAST_0, POSITIVE, Filter, register, set_column, with_drop
from curation.text.words import normalize_for_hash


def _grams(words: list[str], n: int) -> set[int]:
    return {xxhash.xxh3_64_intdigest(" ".join(words[i : i + n]).encode()) for i in range(len(words) - n + 1)}


class NgramIndex:
    """Word n-grams of the evaluation texts (normalised). A text shorter than n words but of at least
    `min_words` words is indexed whole, so a short evaluation caption copied verbatim is found too."""

    def __init__(self, texts: list[str], n: int, min_words: int) -> None:
        self.by_length: dict[int, set[int]] = {}
        for text in texts:
            words = normalize_for_hash(text).split()
            if len(words) >= min_words:
                size = min(n, len(words))
                self.by_length.setdefault(size, set()).update(_grams(words, size))

    def matches(self, text: str) -> int:
        """How many of the text's n-grams (of every indexed size) are evaluation n-grams."""
        words = normalize_for_hash(text).split()
        return sum(len(_grams(words, size) & grams) for size, grams in self.by_length.items())


@register("decontaminate")
@dataclasses.dataclass
class Decontaminate(Filter):
    """Drop rows that share a word `ngram`-gram (13, as LLM decontamination tools use) with an evaluation
    question, answer or caption, or an image within `phash_radius` bits (pHash) of an evaluation image.

    `eval_paths`: curation outputs, COCO caption annotation files or LLaVA / ShareGPT / TRL / VQA record files
    (see `curation.instruct.evalsets`). Evaluation texts shorter than `ngram` words but of at least `min_words`
    count whole. All turns of a row are checked (its prompt and responses, or its caption). Rules:
    `text_overlap`, `image_overlap`. Writes `contamination_ngrams` and `contamination_image_bits` (nearest
    evaluation image, null without images).
    """

    provides = ("contamination_ngrams", "contamination_image_bits")

    ranges = {"ngram": POSITIVE, "min_words": AT_LEAST_0, "phash_radius": AT_LEAST_0}

    eval_paths: list[str] = dataclasses.field(default_factory=list)
    ngram: int = 13
    min_words: int = 8
    phash_radius: int = 6
    images: bool = True

    def validate(self) -> None:
        if not self.eval_paths:
            raise ValueError("eval_paths: at least one evaluation set is required")
        if self.ngram < 1 or self.min_words < 1 or not 0 <= self.phash_radius <= 64:
            raise ValueError("ngram and min_words must be >= 1, phash_radius within [0, 64]")

    def setup(self) -> None:
        evalset = load_eval_set(self.eval_paths)
        self._index = NgramIndex(evalset.texts, self.ngram, self.min_words)
        hashes = [image_phash(b) for b in evalset.images] if self.images else []
        self._hashes = np.array([h for h in hashes if h is not None], dtype=np.uint64)

    def _nearest(self, images: list[bytes]) -> int | None:
        best = None
        for data in images:
            h = image_phash(data)
            if h is None or not len(self._hashes):
                continue
            bits = int(np.bitwise_count(self._hashes ^ np.uint64(h)).min())
            best = bits if best is None else min(best, bits)
        return best

    def evaluate(self, batch: pa.Table) -> pa.Table:
        if not hasattr(self, "_index"):
            self.setup()
        cols = [c for c in ("messages", "prompt", "chosen", "rejected", "caption") if c in batch.column_names]
        image_col = "images" if "images" in batch.column_names else "image"
        rows = batch.select(cols).to_pylist()
        images = (
            batch.column(image_col).to_pylist() if image_col in batch.column_names else [None] * len(rows)
        )
        counts, bits, reasons = [], [], []
        for row, imgs in zip(rows, images, strict=True):
            n = sum(self._index.matches(t) for t in row_texts(row))
            near = (
                self._nearest(imgs if isinstance(imgs, list) else [imgs] if imgs else [])
                if self.images
                else None
            )
            counts.append(n)
            bits.append(near)
            if n:
                reasons.append("text_overlap")
            elif near is not None and near <= self.phash_radius:
                reasons.append("image_overlap")
            else:
                reasons.append(None)
        batch = set_column(batch, "contamination_ngrams", pa.array(counts, pa.int32()))
        batch = set_column(batch, "contamination_image_bits", pa.array(bits, pa.int32()))
        return with_drop(batch, reasons)
