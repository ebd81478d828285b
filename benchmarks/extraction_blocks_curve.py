"""Does the `blocks` model gain from more training pages? A learning curve inside the tuning half only.

The tuning-half CV of extraction_blocks.py (4 folds grouped by site, stage 1 and the shipped stage-2 shape,
threshold 0.6), with each outer fold's training part cut to a share of its sites (a hash of site and seed
decides), scored out of fold on the whole tuning half. The reporting half is not read.

    cd benchmarks && OMP_NUM_THREADS=1 ../.venv/bin/python extraction_blocks_curve.py [--cache ROWS.pkl]
"""

from __future__ import annotations

import argparse
import zlib

import extraction_blocks as eb
from extraction import load_gold

STAGE2 = {"max_iter": 60, "max_depth": 4, "max_leaf_nodes": 15, **eb.FIXED2}
THRESHOLD = 0.6


def out_of_fold(tuning: list[dict], share: float, seed: int) -> list:
    probas: list = [None] * len(tuning)
    for train, test in eb.site_folds(tuning):
        kept = [
            tuning[i]
            for i in train
            if zlib.crc32(f"{tuning[i]['site']}{seed}".encode()) % 1000 < share * 1000
        ]
        tested = [tuning[i] for i in test]
        eb.set_stage2_rows(kept, eb.out_of_fold(kept, eb.PARAMS1, eb.WEIGHTING))
        eb.set_stage2_rows(tested, eb.predict(eb.fit(kept, eb.PARAMS1, eb.WEIGHTING), tested))
        for i, pr in zip(
            test, eb.predict(eb.fit(kept, STAGE2, eb.WEIGHTING, "x2"), tested, "x2"), strict=True
        ):
            probas[i] = pr
    return probas


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", help="the page table pickle extraction_blocks.py --cache wrote")
    args = ap.parse_args()
    gold = load_gold()
    rows = eb.load_rows(gold, args.cache)
    tuning = [r for r in rows if r["part"] == "tuning"]
    print("| share of each fold's training sites | seed | F1 | snippets | score |")
    print("|---|---|---|---|---|")
    for share, seeds in ((0.5, (0, 1)), (0.75, (0, 1)), (1.0, (0,))):
        for seed in seeds:
            s = eb.score_pages(tuning, out_of_fold(tuning, share, seed), gold, THRESHOLD)
            print(
                f"| {share} | {seed} | {s['f1']:.4f} | {s['snippets']:.4f} | {s['score']:.4f} |", flush=True
            )


if __name__ == "__main__":
    main()
