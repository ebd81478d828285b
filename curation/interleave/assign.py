"""MMC4 image-to-sentence assignment: a linear assignment on the similarity matrix, padded to square.

Facts from the MMC4 authors' `compute_assignments.py`: the cost is the negated image x sentence similarity,
padded with a constant dummy cost to a square matrix and solved as a linear assignment, so no sentence gets two
images; when a document has more images than sentences, the images left over go to their most similar sentence.
We solve with `scipy.optimize.linear_sum_assignment` (the authors used lapjv; both are exact, so they differ only
where several assignments have the same total).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
from scipy.optimize import linear_sum_assignment

from curation.interleave.document import IMAGES, SIMILARITY_MATRIX, split_images
from curation.ops.base import Mapper, register
from curation.rows import ERROR, set_column

DUMMY_COST = 1000.0  # the authors' pad value; any constant gives the same assignment of the real entries


def assign(sim: np.ndarray) -> np.ndarray:
    """Sentence index of each image (rows: images, columns: sentences) maximising the total similarity.

    The matrix is padded to square with a constant cost and solved exactly; with more images than sentences
    every sentence gets one image and each image left over goes to its argmax sentence.
    """
    n_img, n_txt = sim.shape
    if n_img == 0:
        return np.zeros(0, np.int64)
    if n_txt == 0:
        raise ValueError("a document with images needs at least one sentence")
    size = max(n_img, n_txt)
    cost = np.full((size, size), DUMMY_COST)
    cost[:n_img, :n_txt] = -sim
    rows, cols = linear_sum_assignment(cost)
    out = np.argmax(sim, axis=1)
    real = (rows < n_img) & (cols < n_txt)
    out[rows[real]] = cols[real]
    return out


def matrix_problem(matrix: list | None, n_img: int, n_txt: int) -> str | None:
    """Why a similarity matrix cannot be used for a document with `n_img` images and `n_txt` texts."""
    if n_img == 0 and not matrix:
        return None  # nothing to assign
    if matrix is None:
        return "no_similarity_matrix"
    if len(matrix) != n_img or any(row is None or len(row) != n_txt for row in matrix):
        return "similarity_matrix_shape"
    if n_img and not n_txt:
        return "images_without_text"
    return None


@register("mmc4_assign")
@dataclasses.dataclass
class Mmc4Assign(Mapper):
    """Assign each image to a sentence as MMC4 does, from the row's `similarity_matrix` (images x texts).

    Writes each image's `text_index` and `similarity` (the matrix entry). `min_similarity` (unset: keep all) moves
    the images whose similarity to their assigned sentence is below it into `dropped_images` (rule
    `low_similarity`). `keep_matrix: false` removes the matrix afterwards. A missing matrix or one whose shape
    does not match the document is the row's error (`similarity_matrix_shape`, `no_similarity_matrix`).
    Compute the matrix with `interleaved_clip_similarity` when the input has none.
    """

    ranges = {"min_similarity": (-1, 1)}  # a cosine similarity

    requires = ("texts", "images", SIMILARITY_MATRIX)
    provides = ("images", "dropped_images")

    min_similarity: float | None = None
    keep_matrix: bool = True

    def map(self, batch: pa.Table) -> pa.Table:
        texts = batch.column("texts").to_pylist()
        images = batch.column("images").to_pylist()
        matrices = batch.column(SIMILARITY_MATRIX).to_pylist()
        out, errors, keep, reasons = [], [], [], []
        for doc_texts, doc_images, matrix in zip(texts, images, matrices, strict=True):
            doc_images = doc_images or []
            problem = matrix_problem(matrix, len(doc_images), len(doc_texts or []))
            errors.append(problem)
            if problem is None and doc_images:
                sim = np.asarray(matrix, dtype=np.float64)
                chosen = assign(sim)
                doc_images = [
                    img | {"text_index": int(j), "similarity": float(sim[i, j])}
                    for i, (img, j) in enumerate(zip(doc_images, chosen, strict=True))
                ]
            out.append(doc_images)
            floor = self.min_similarity
            flags = [problem is not None or floor is None or img["similarity"] >= floor for img in doc_images]
            keep.append(flags)
            reasons.append([None if ok else "low_similarity" for ok in flags])
        batch = set_column(batch, "images", pa.array(out, IMAGES))
        batch = split_images(batch, keep, reasons, self.op_name)
        if not self.keep_matrix:
            batch = batch.drop_columns([SIMILARITY_MATRIX])
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, pa.string()))
        return batch
