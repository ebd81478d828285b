"""Extraction engines against gold that counts reader comments (`comments_gold.py`: 60 visible pages where an engine
finds comments, 16 of which have some, labelled line by line here): token F1 by half of the site split under both conventions, main content alone and
main content with comments; and the agreement between two annotators where a page has a second annotation.

These pages are in the visible gold, which `blocks`' shipped model learned from; `--blocks-models DIR` (the half
models `extraction_blocks.py --halves DIR` writes) scores each half's `blocks` rows, and `resiliparse`'s fallback
to `blocks`, by the model of the other half, so no page is scored by a model that saw it. The difference to plain
trafilatura is over all pages, with a paired bootstrap 95 % interval that resamples sites (2,000 draws, seed 0).

    cd benchmarks && ../.venv/bin/python extraction_comments_gold.py --blocks-models DIR
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from comments_gold import ARCHIVE, GOLD_FILE
from common import pick_warc
from crawl_gold import gold_pages, load_crawl_gold
from extraction import Page, build_engines, read_pages
from extraction_crawl_gold import CONVENTIONS, agreement, f1, gold_text, print_table
from extraction_split import part, per_part, site, split_arguments

REFERENCE = "plain trafilatura (comments kept)"

# the op's convention options scored here, each with its label
OPTIONS: list[tuple[dict[str, bool], str]] = [
    ({}, ""),
    ({"comments": True}, ", comments: true"),
    ({"post_meta": True}, ", post_meta: true"),
    ({"comments": True, "post_meta": True}, ", comments and post_meta: true"),
]


def main() -> None:
    args = split_arguments(__doc__.split("\n\n")[0])
    gold = load_crawl_gold(GOLD_FILE)
    pages = gold_pages(gold, ((ARCHIVE, page) for page in read_pages(pick_warc(False, None))))
    halves = np.array([part(page) for page, _ in pages])
    sites = [site(page) for page, _ in pages]
    print(
        f"{len(pages)} pages; tuning {np.sum(halves == 'tuning')}, reporting {np.sum(halves == 'reporting')}"
    )
    label = "other half's model" if args.blocks_models else "shipped model, in-sample"
    trafilatura = build_engines(["trafilatura_defaults", "trafilatura_comments"])
    engines: dict[str, Callable[[Page], str] | dict[str, Callable[[Page], str]]] = {
        REFERENCE: trafilatura["trafilatura_defaults"],
        "`trafilatura` op, comments: true": trafilatura["trafilatura_comments"],
    }
    for options, named in OPTIONS:
        engines[f"`blocks`{named} ({label})"] = per_part(args.blocks_models, "blocks", **options)
        engines[f"`resiliparse`{named} (fallback: {label})"] = per_part(
            args.blocks_models, "resiliparse", **options
        )
    outputs = {
        name: [
            (fn[half] if isinstance(fn, dict) else fn)(page)
            for (page, _), half in zip(pages, halves, strict=True)
        ]
        for name, fn in engines.items()
    }
    for convention, fields in CONVENTIONS.items():
        golds = [gold_text(row, fields) for _, row in pages]
        scores = {
            n: np.array([f1(t, g) for t, g in zip(texts, golds, strict=True)]) for n, texts in outputs.items()
        }
        print(f"\ngold: {convention}")
        print_table(scores, REFERENCE, halves, sites, np.ones(len(pages), bool), "minus plain trafilatura")
    print("\nagreement between two annotators (token F1):", agreement([row for _, row in pages]))


if __name__ == "__main__":
    main()
