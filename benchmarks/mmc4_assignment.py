"""Compare `mmc4_assign` with the MMC4 authors' `matched_text_index` on real MMC4 documents.

    .venv/bin/python benchmarks/mmc4_assignment.py ../shared/data/mmc4/docs_no_face_shard_151_v3.partial.jsonl.gz

Prints one line per document whose assignment differs from the authors', with the reason:
`tie` (another assignment with the same total: duplicate sentences give identical matrix columns), or
`authors_not_optimal` (theirs has a lower total on this matrix; `authors_not_injective` when theirs gives one
sentence two images although the document has no more images than sentences, `authors_sentence_unused` when
a document with more images than sentences leaves a sentence without an image - neither can come out of the
authors' algorithm on this matrix). `optimal_on_own_sentences` says whether the authors' assignment is optimal
among the sentences it uses: what it must be if the assignment was computed on a larger matrix (this is the
"fewer faces" release: images with detected faces were removed after the assignment, their rows deleted, while
the sentences they held stayed taken).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

import numpy as np

from curation.interleave.assign import assign
from curation.io.mmc4 import read_mmc4
from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit

TOLERANCE = 1e-6


def compare(texts: list[str], matrix: list, authors: list[int]) -> dict:
    """Our assignment against the authors' on one document."""
    sim = np.asarray(matrix, np.float64)
    n_img, n_txt = sim.shape
    ours = assign(sim)
    rows = np.arange(n_img)
    total_ours, total_theirs = float(sim[rows, ours].sum()), float(sim[rows, authors].sum())
    reason, own_optimal = None, None
    if list(ours) != list(authors):
        if abs(total_ours - total_theirs) <= TOLERANCE:
            reason = "tie"
        elif n_img <= n_txt and len(set(authors)) < n_img:
            reason = "authors_not_injective"
        elif n_img > n_txt and len(set(authors)) < n_txt:
            reason = "authors_sentence_unused"
        else:
            reason = "authors_not_optimal"
        used = sorted(set(authors))
        if len(used) == n_img:
            own = sim[:, used]
            own_optimal = abs(float(own[rows, assign(own)].sum()) - total_theirs) <= TOLERANCE
    return {
        "images": n_img,
        "sentences": n_txt,
        "ours": [int(j) for j in ours],
        "authors": list(authors),
        "total_ours": total_ours,
        "total_authors": total_theirs,
        "reason": reason,
        "optimal_on_own_sentences": own_optimal,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    args = parser.parse_args()
    stats = ReaderStats()
    reasons: Counter[str] = Counter()
    n = 0
    for table in read_mmc4(Unit(0, args.path, "mmc4"), stats, 1024):
        for doc in table.to_pylist():
            n += 1
            authors = [img["text_index"] for img in doc["images"]]
            row = compare(doc["texts"], doc["similarity_matrix"], authors)
            reasons[row["reason"] or "same"] += 1
            reasons[f"optimal_on_own_sentences={row['optimal_on_own_sentences']}"] += (
                row["reason"] is not None
            )
            if row["reason"]:
                print(json.dumps({"doc": doc["source"], **row}))
    print(json.dumps({"documents": n, **reasons}))


if __name__ == "__main__":
    main()
