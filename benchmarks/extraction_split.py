"""Extraction options chosen on one half of the visible gold, reported on the other: split by site.

The visible pages (warc/visible_pages.warc.gz with the gold of ../shared/data/extraction) are split by site
(the URL's host without `www.`; a hash decides the part), so no site is in both parts. Options are chosen on
the tuning part only (mean of AEB and Readability macro token F1, the trafilatura snippet share); both parts
are reported, with pages per CPU-second over each part. The shipped `blocks` model is trained on both parts, so
its rows here (and those of the `resiliparse` op's fallback to it) are in-sample; with `--blocks-models DIR` (the
folder `extraction_blocks.py --halves DIR` wrote) each part is scored by the model trained on the other part
instead.

    .venv/bin/python benchmarks/extraction_split.py [--limit N] [--blocks-models DIR]
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable

import xxhash
from common import pick_warc
from extraction import Page, evaluate, load_gold, op_engine, read_pages, site

from curation.ops.html import decode_html

RESILIPARSE_OPTIONS = ("alt_texts", "comments", "post_meta")


def part(page: Page) -> str:
    """`tuning` or `reporting`, by a hash of the page's site."""
    return "tuning" if xxhash.xxh64_intdigest(site(page)) % 2 == 0 else "reporting"


def resiliparse_with(**options: bool) -> Callable[[Page], str]:
    def run(page: Page) -> str:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        html, _ = decode_html(page.payload, page.http_charset)
        return extract_plain_text(HTMLTree.parse(html), main_content=True, **options)

    return run


def trafilatura_with(**options: bool) -> Callable[[Page], str]:
    def run(page: Page) -> str:
        import trafilatura

        html, _ = decode_html(page.payload, page.http_charset)
        return trafilatura.extract(html, **options) or ""

    return run


PARTS = ("tuning", "reporting")


def cross_fitted(models: str, engine: str = "blocks", **options: bool) -> dict[str, Callable[[Page], str]]:
    """Per part, the op's `engine` (`blocks`, or `resiliparse` for its fallback to `blocks`) with the `blocks`
    model trained on the other part (the files `extraction_blocks.py --halves` wrote into the folder `models`)."""
    other = {"tuning": "reporting", "reporting": "tuning"}
    return {
        name: op_engine(engine, blocks_model=f"{models}/html_blocks_model_{other[name]}.json", **options)
        for name in PARTS
    }


def per_part(models: str | None, engine: str, **options: bool) -> dict[str, Callable[[Page], str]]:
    """Per part, the op's `engine`: with the `blocks` model trained on the other part where `models` (the
    folder `extraction_blocks.py --halves` wrote) is given (`cross_fitted`), else with the shipped one."""
    return (
        cross_fitted(models, engine, **options)
        if models
        else dict.fromkeys(PARTS, op_engine(engine, **options))
    )


def split_arguments(description: str) -> argparse.Namespace:
    """`--limit N` and `--blocks-models DIR`, as the scripts over the site split take them."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--limit", type=int)
    ap.add_argument(
        "--blocks-models", help="score each part's `blocks` rows by the model trained on the other part"
    )
    return ap.parse_args()


def summary(result: dict) -> dict[str, float]:
    s = result["scores"]
    f1 = [s[d]["macro"]["f"] for d in ("scrapinghub_aeb", "mozilla_readability") if d in s]
    return {
        "f1": sum(f1) / len(f1),
        "aeb": s.get("scrapinghub_aeb", {}).get("macro", {}).get("f", float("nan")),
        "readability": s.get("mozilla_readability", {}).get("macro", {}).get("f", float("nan")),
        "snippets": s.get("trafilatura_eval", {}).get("snippets_correct", float("nan")),
        "empty": sum(v["empty_outputs"] for v in s.values()),
        "pages_per_cpu_s": result["pages_per_cpu_s"],
    }


def main() -> None:
    args = split_arguments(__doc__.split("\n\n")[0])
    gold = load_gold()
    pages = [p for p in read_pages(pick_warc(False, None), args.limit) if p.record_id in gold]
    parts = {name: [p for p in pages if part(p) == name] for name in PARTS}
    print({k: (len(v), len({site(p) for p in v})) for k, v in parts.items()}, "(pages, sites)")

    # choose the resiliparse options on the tuning part only
    grid = {}
    for values in itertools.product((False, True), repeat=len(RESILIPARSE_OPTIONS)):
        options = dict(zip(RESILIPARSE_OPTIONS, values, strict=True))
        grid[tuple(values)] = summary(evaluate(parts["tuning"], gold, resiliparse_with(**options)))
        score = grid[tuple(values)]
        print("tuning", options, f"F1 {score['f1']:.4f} snippets {score['snippets']:.4f}")
    best = max(grid, key=lambda v: (grid[v]["f1"] + grid[v]["snippets"]) / 2)
    chosen = dict(zip(RESILIPARSE_OPTIONS, best, strict=True))
    print("chosen on tuning:", chosen)

    label = "model trained on the other part" if args.blocks_models else "shipped model, in-sample"
    engines: dict[str, Callable[[Page], str] | dict[str, Callable[[Page], str]]] = {
        f"html_extract blocks (op; {label})": per_part(args.blocks_models, "blocks"),
        f"html_extract blocks, comments: true (op; {label})": per_part(
            args.blocks_models, "blocks", comments=True
        ),
        f"html_extract blocks, post_meta: true (op; {label})": per_part(
            args.blocks_models, "blocks", post_meta=True
        ),
        f"html_extract resiliparse (op; fallback {label})": per_part(args.blocks_models, "resiliparse"),
        "html_extract resiliparse, no fallback (op)": op_engine(
            "resiliparse", resiliparse_fallback_chars=None
        ),
        "html_extract trafilatura (op)": op_engine("trafilatura"),
        "resiliparse chosen options": resiliparse_with(**chosen),
        "resiliparse defaults (main_content)": resiliparse_with(),
        "trafilatura defaults": trafilatura_with(),
    }
    print(
        "| engine | part | F1 (mean AEB, Readability) | AEB F1 | Readability F1 | traf. snippets | empty | pages/CPU-s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, engine in engines.items():
        for part_name, part_pages in parts.items():
            run = engine[part_name] if isinstance(engine, dict) else engine
            run(pages[0])  # imports and lazy loading (the blocks model) stay out of the timing
            s = summary(evaluate(part_pages, gold, run))
            print(
                f"| {name} | {part_name} | {s['f1']:.3f} | {s['aeb']:.3f} | {s['readability']:.3f} | "
                f"{s['snippets']:.3f} | {s['empty']} | {s['pages_per_cpu_s']:.0f} |"
            )


if __name__ == "__main__":
    main()
