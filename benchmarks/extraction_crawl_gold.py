"""Extraction engines on old crawl pages with this project's gold (`crawl_gold.py`): token F1 by half of a site
split, under two conventions (main content alone; main content and reader comments), with the agreement between
two annotators where a page has a second annotation.

Halves: `extraction_split.part` (a hash of the site), as for the visible gold; the tuning half is in `blocks`'
training (extraction_blocks.py), the reporting half in nothing. Each engine's page mean F1 per half, and on the
reporting half its difference to plain trafilatura with a paired bootstrap 95 % interval that resamples sites
(some archives hold many pages of one site; 2,000 draws, seed 0). Pages whose gold is empty (error pages) count 1
for an engine that returns nothing, else 0.

    cd benchmarks && ../.venv/bin/python extraction_crawl_gold.py
"""

from __future__ import annotations

import numpy as np
from common import paired_interval
from crawl_gold import gold_pages, load_crawl_gold
from extraction import build_engines, prf, token_prf
from extraction_crawl import crawl_pages
from extraction_split import part, site

ENGINES = [
    "trafilatura_defaults",
    "trafilatura",
    "resiliparse",
    "resiliparse_full",
    "blocks",
    "resiliparse_comments",
    "blocks_comments",
    "resiliparse_post_meta",
    "blocks_post_meta",
    "blocks_comments_post_meta",
]  # the names of extraction.py; the first is the reference
CONVENTIONS = {"main": ("main_lines",), "main + comments": ("main_lines", "comment_lines")}


def f1(predicted: str, gold: str) -> float:
    """Token F1; an empty gold is matched only by an empty output."""
    if not gold.strip():
        return float(not predicted.strip())
    return prf(*token_prf(predicted, gold))[2]


def gold_text(row: dict, fields: tuple[str, ...]) -> str:
    return "\n".join(line for field in fields for line in row[field])


def print_table(
    scores: dict[str, np.ndarray],
    reference: str,
    halves: np.ndarray,
    sites: list[str],
    compared: np.ndarray,
    difference: str,
) -> None:
    """The markdown table: page mean F1 per half and over all pages, and the difference to `reference` over the
    pages of `compared` with its site-resampled interval (`paired_interval`)."""
    print(f"| engine | tuning F1 | reporting F1 | all F1 | {difference} | 95 % interval |")
    print("|---|---|---|---|---|---|")
    ref = scores[reference][compared]
    kept_sites = [s for s, c in zip(sites, compared, strict=True) if c]
    for name, values in scores.items():
        low, high = paired_interval(values[compared], ref, kept_sites)
        cells = " | ".join(f"{values[halves == h].mean():.3f}" for h in ("tuning", "reporting"))
        diff = 100 * (values[compared].mean() - ref.mean())
        print(
            f"| {name} | {cells} | {values.mean():.3f} | {diff:+.1f} points | "
            f"{100 * low:+.1f} to {100 * high:+.1f} |"
        )


def agreement(gold: list[dict]) -> dict[str, float]:
    """Mean token F1 between the two annotations, per convention, over the doubly annotated pages."""
    both = [row for row in gold if "second" in row]
    return {
        name: float(np.mean([f1(gold_text(row["second"], fields), gold_text(row, fields)) for row in both]))
        for name, fields in CONVENTIONS.items()
    } | {"pages": len(both)}


def main() -> None:
    gold = load_crawl_gold()
    pages = gold_pages(gold, crawl_pages())
    missing = len(gold) - len(pages)
    print(
        f"{len(pages)} gold pages found in the sample archives" + (f", {missing} missing" if missing else "")
    )
    halves = np.array([part(page) for page, _ in pages])
    sites = [site(page) for page, _ in pages]
    print(f"tuning {np.sum(halves == 'tuning')} pages, reporting {np.sum(halves == 'reporting')}")
    outputs = {name: [fn(page) for page, _ in pages] for name, fn in build_engines(ENGINES).items()}
    for convention, fields in CONVENTIONS.items():
        golds = [gold_text(row, fields) for _, row in pages]
        scores = {
            name: np.array([f1(t, g) for t, g in zip(texts, golds, strict=True)])
            for name, texts in outputs.items()
        }
        print(f"\ngold: {convention}")
        print_table(
            scores, ENGINES[0], halves, sites, halves == "reporting", "reporting minus plain trafilatura"
        )
    print("\nagreement between two annotators (token F1):", agreement([row for _, row in pages]))


if __name__ == "__main__":
    main()
