"""Would a per-page router between `blocks` and the `resiliparse` op close `blocks`' F1 gap? Tuning half only.

Each tuning-half page (site split of extraction_split.py) is extracted by `blocks` with the model trained on the
reporting half (out of sample, from the folder `extraction_blocks.py --halves DIR` wrote) and by the
`resiliparse` op. Printed, as the other tables score (F1 = mean of AEB and Readability macro token F1; snippets):
each engine, the per-page oracle (the better of the two on every page: the most any router could reach), and
the rule "take `resiliparse` when `blocks` returns under a share of its characters" at a few shares, with the share
of pages it routes. The rule needs both engines on every page. Nothing here is read on the reporting half.

    cd benchmarks && ../.venv/bin/python extraction_blocks_router.py --blocks-models DIR
"""

from __future__ import annotations

import argparse

import numpy as np
from common import pick_warc
from extraction import load_gold, op_engine, read_pages
from extraction_blocks import page_score, summarise
from extraction_split import cross_fitted_blocks, part

DATASETS = ("scrapinghub_aeb", "mozilla_readability", "trafilatura_eval")
SHARES = (0.3, 0.5, 0.7, 0.85)


def summary(dataset: list[str], scores: np.ndarray) -> str:
    s = summarise({d: [v for g, v in zip(dataset, scores, strict=True) if g == d] for d in DATASETS})
    return f"F1 {s['f1']:.4f} snippets {s['snippets']:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks-models", required=True, help="the folder extraction_blocks.py --halves wrote")
    args = ap.parse_args()
    gold = load_gold()
    blocks, resiliparse = cross_fitted_blocks(args.blocks_models)["tuning"], op_engine("resiliparse")
    dataset, scores, ratio = [], [], []
    for p in read_pages(pick_warc(False, None)):
        if p.record_id not in gold or part(p) != "tuning":
            continue
        texts = blocks(p), resiliparse(p)
        dataset.append(gold[p.record_id]["dataset"])
        scores.append([page_score(t, gold[p.record_id]) for t in texts])
        ratio.append(len(texts[0]) / max(1, len(texts[1])))
    s, r = np.array(scores), np.array(ratio)
    print(f"{len(s)} tuning-half pages")
    print("blocks      ", summary(dataset, s[:, 0]))
    print("resiliparse ", summary(dataset, s[:, 1]))
    print("oracle      ", summary(dataset, s.max(axis=1)))
    for share in SHARES:
        routed = r < share
        print(
            f"resiliparse when blocks < {share} of its length ({routed.mean():.1%} of pages):",
            summary(dataset, np.where(routed, s[:, 1], s[:, 0])),
        )


if __name__ == "__main__":
    main()
