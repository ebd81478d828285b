"""Would a per-page router between `blocks` and the `resiliparse` op close `blocks`' F1 gap? Tuning half only.

Each tuning-half page (site split of extraction_split.py) is extracted by `blocks` with the model trained on the
reporting half (out of sample, from the folder `extraction_blocks.py --halves DIR` wrote) and by the
`resiliparse` op. Printed, as the other tables score (F1 = mean of AEB and Readability macro token F1; snippets):
each engine, the per-page oracle (the better of the two on every page: the most any router could reach), and
the rule "take `resiliparse` when `blocks` returns under a share of its characters" at a few shares, with the share
of pages it routes; that rule needs both engines on every page. Then the same rule only where `blocks` returns at
most a number of characters, as `html_extract`'s `blocks_fallback_chars` / `blocks_fallback_share` run it (the
second engine only on those pages): the grid its defaults were chosen from (best score, the mean of F1 and
snippets). `blocks` here runs without that fallback. Last, the other direction, as the `resiliparse` engine's
`resiliparse_fallback_chars` runs it: `blocks`' text where `resiliparse` keeps at most a number of characters and
`blocks` keeps more (`blocks` only on those pages); its default is the best score of that grid. And the same for
the `trafilatura` engine's `trafilatura_fallback_chars`. Nothing here is read on the reporting half.

    cd benchmarks && ../.venv/bin/python extraction_blocks_router.py --blocks-models DIR
"""

from __future__ import annotations

import argparse

import numpy as np
from common import pick_warc
from extraction import load_gold, op_engine, read_pages
from extraction_blocks import page_score, summarise
from extraction_split import cross_fitted, part

DATASETS = ("scrapinghub_aeb", "mozilla_readability", "trafilatura_eval")
SHARES = (0.3, 0.5, 0.7, 0.85)
FALLBACK_CHARS = (600, 800, 1000, 1200, 1500, 2000)
FALLBACK_SHARES = (0.5, 0.6, 0.7)
RESILIPARSE_FALLBACK_CHARS = (0, 100, 200, 300, 500, 800, 1200)
TRAFILATURA_FALLBACK_CHARS = (0, 50, 100, 250, 500, 1000)


def summary(dataset: list[str], scores: np.ndarray) -> str:
    s = summarise({d: [v for g, v in zip(dataset, scores, strict=True) if g == d] for d in DATASETS})
    return f"F1 {s['f1']:.4f} snippets {s['snippets']:.4f} score {s['score']:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks-models", required=True, help="the folder extraction_blocks.py --halves wrote")
    args = ap.parse_args()
    gold = load_gold()
    blocks = cross_fitted(args.blocks_models, blocks_fallback_share=0)["tuning"]
    resiliparse = op_engine("resiliparse", resiliparse_fallback_chars=None)
    trafilatura = op_engine("trafilatura", trafilatura_fallback_chars=None)
    dataset, scores, ratio, length, other_length = [], [], [], [], []
    for p in read_pages(pick_warc(False, None)):
        if p.record_id not in gold or part(p) != "tuning":
            continue
        texts = blocks(p), resiliparse(p), trafilatura(p)
        dataset.append(gold[p.record_id]["dataset"])
        scores.append([page_score(t, gold[p.record_id]) for t in texts])
        ratio.append(len(texts[0]) / max(1, len(texts[1])))
        length.append(len(texts[0]))
        other_length.append([len(texts[1]), len(texts[2])])
    s, r, n, m = np.array(scores), np.array(ratio), np.array(length), np.array(other_length)
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
    for chars in FALLBACK_CHARS:
        for share in FALLBACK_SHARES:
            routed = (n <= chars) & (r < share)
            print(
                f"fallback at <= {chars} characters and < {share} ({(n <= chars).mean():.1%} of pages run both,"
                f" {routed.mean():.1%} routed):",
                summary(dataset, np.where(routed, s[:, 1], s[:, 0])),
            )
    print("trafilatura ", summary(dataset, s[:, 2]))
    for column, engine, grid in (
        (1, "resiliparse", RESILIPARSE_FALLBACK_CHARS),
        (2, "trafilatura", TRAFILATURA_FALLBACK_CHARS),
    ):
        for chars in grid:
            short = m[:, column - 1] <= chars
            routed = short & (n > m[:, column - 1])
            print(
                f"{engine}, blocks where it keeps <= {chars} characters and blocks more ({short.mean():.1%}"
                f" of pages run both, {routed.mean():.1%} routed):",
                summary(dataset, np.where(routed, s[:, 0], s[:, column])),
            )


if __name__ == "__main__":
    main()
