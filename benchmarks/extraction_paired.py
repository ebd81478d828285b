"""Is the `blocks` engine below plain trafilatura on held-apart pages, or within noise? A paired comparison.

Each visible gold-text page (AEB, Readability) of each half of the site split (extraction_split.py) is
extracted by `blocks` with the model trained on the *other* half (the folder `extraction_blocks.py --halves DIR`
wrote) and by the peers; per page token F1 (as extraction.py scores), then the difference to plain
trafilatura per page. The summary F1 is the mean of the AEB and Readability macro F1, as in the other tables;
its 95 % interval comes from a paired bootstrap over pages (resampled within each dataset and half, 2,000 draws,
seed 0), so the site-to-site spread the two halves show is in it.

    cd benchmarks && ../.venv/bin/python extraction_paired.py --blocks-models DIR
"""

from __future__ import annotations

import argparse

import numpy as np
from common import pick_warc
from extraction import load_gold, prf, read_pages, token_prf
from extraction_split import cross_fitted, part, trafilatura_with

DATASETS = ("scrapinghub_aeb", "mozilla_readability")
DRAWS = 2000


def summary(f1: dict[tuple[str, str], np.ndarray]) -> float:
    """Mean over the two datasets of the macro F1 over both halves' pages."""
    return float(
        np.mean(
            [np.concatenate([v for (d, _), v in f1.items() if d == dataset]).mean() for dataset in DATASETS]
        )
    )


Groups = dict[tuple[str, str], np.ndarray]


def bootstrap_draws(reference: Groups) -> list[dict[tuple[str, str], np.ndarray]]:
    """`DRAWS` resamples of page indices within each (dataset, half) group of `reference` (seed 0)."""
    rng = np.random.default_rng(0)
    return [{g: rng.integers(0, len(v), len(v)) for g, v in sorted(reference.items())} for _ in range(DRAWS)]


def paired_difference(scores: Groups, reference: Groups, draws: list) -> tuple[float, float, float]:
    """`summary(scores)` minus `summary(reference)`, and the 2.5 and 97.5 percentiles of that difference over
    `draws` (the same pages resampled on both sides)."""
    boot = [
        summary({g: v[ix[g]] for g, v in scores.items()})
        - summary({g: v[ix[g]] for g, v in reference.items()})
        for ix in draws
    ]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return summary(scores) - summary(reference), float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks-models", required=True, help="the folder extraction_blocks.py --halves wrote")
    args = ap.parse_args()
    gold = load_gold()
    pages = [
        p
        for p in read_pages(pick_warc(False, None))
        if p.record_id in gold and "gold_text" in gold[p.record_id]
    ]
    engines = {
        "blocks (model of the other half)": cross_fitted(args.blocks_models),
        "resiliparse (op, its fallback with the model of the other half)": cross_fitted(
            args.blocks_models, "resiliparse"
        ),
        "plain trafilatura": trafilatura_with(),
    }
    groups = sorted({(gold[p.record_id]["dataset"], part(p)) for p in pages})
    f1: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    for name, engine in engines.items():
        per_group: dict[tuple[str, str], list[float]] = {g: [] for g in groups}
        for p in pages:
            run = engine[part(p)] if isinstance(engine, dict) else engine
            text = run(p)
            per_group[(gold[p.record_id]["dataset"], part(p))].append(
                prf(*token_prf(text, gold[p.record_id]["gold_text"]))[2]
            )
        f1[name] = {g: np.array(v) for g, v in per_group.items()}
    print({f"{d}/{h}": len(v) for (d, h), v in f1["plain trafilatura"].items()}, "(gold-text pages)")
    reference = f1["plain trafilatura"]
    draws = bootstrap_draws(reference)
    print("| engine | F1 | minus plain trafilatura | 95 % interval (paired bootstrap) |")
    print("|---|---|---|---|")
    for name, scores in f1.items():
        diff, lo, hi = paired_difference(scores, reference, draws)
        print(
            f"| {name} | {summary(scores):.3f} | {100 * diff:+.1f} points | {100 * lo:+.1f} to {100 * hi:+.1f} |"
        )


if __name__ == "__main__":
    main()
