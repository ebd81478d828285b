"""What `comments: true` keeps, per half of the site split: reader comments against what the visible gold costs.

The visible gold leaves reader comments out, so it can only score what keeping them costs. For which text is a
comment, trafilatura's own comment extraction stands in (`bare_extraction(include_comments=True)`'s `comments`:
what plain trafilatura, whose defaults keep comments, adds on a page): per half, the share of its comment lines
of 4 or more tokens that an engine's output holds (whitespace collapsed, as the snippet test compares). Next to
it, per half: F1 (mean of the AEB and Readability macro token F1, as extraction_split.py) and the trafilatura
snippet share on the visible gold, and the mean tokens per page. Engines: the `html_extract` op with `blocks`
and with `resiliparse`, each with `comments` false and true. Nothing here is chosen: it describes the shipped
setting. The `blocks` rows use the shipped model (in-sample on both halves) unless `--blocks-models DIR` gives
the half models of `extraction_blocks.py --halves DIR`.

    cd benchmarks && ../.venv/bin/python extraction_comments.py [--limit N] [--blocks-models DIR]
"""

from __future__ import annotations

import re

from common import pick_warc
from extraction import Page, evaluate, load_gold, read_pages, tokens
from extraction_split import PARTS, part, per_part, split_arguments, summary

from curation.ops.html import decode_html

_SPACE = re.compile(r"\s+")
MIN_LINE_TOKENS = 4


def comment_lines(page: Page) -> list[str]:
    """trafilatura's comment lines of `page` with at least MIN_LINE_TOKENS tokens, whitespace collapsed."""
    import trafilatura

    html, _ = decode_html(page.payload, page.http_charset)
    try:
        document = trafilatura.bare_extraction(html, include_comments=True, with_metadata=False)
    except Exception:  # no reference for this page: it has no comment lines here
        return []
    found = (document.comments if document is not None else None) or ""
    lines = (_SPACE.sub(" ", line).strip() for line in found.splitlines())
    return [line for line in lines if len(tokens(line)) >= MIN_LINE_TOKENS]


def main() -> None:
    args = split_arguments(__doc__.split("\n\n")[0])
    gold = load_gold()
    pages = list(read_pages(pick_warc(False, None), args.limit))
    parts = {name: [p for p in pages if part(p) == name] for name in PARTS}
    references = {p.record_id: comment_lines(p) for p in pages}
    for name, part_pages in parts.items():
        with_comments = [p for p in part_pages if references[p.record_id]]
        lines = sum(len(references[p.record_id]) for p in with_comments)
        print(
            f"{name}: {len(part_pages)} pages; trafilatura finds comment lines on {len(with_comments)} ({lines} lines)"
        )

    print("| engine | comments | part | comment lines kept | F1 | snippets | tokens per page |")
    print("|---|---|---|---|---|---|---|")
    for engine in ("blocks", "resiliparse"):
        for comments in (False, True):
            runs = per_part(args.blocks_models, engine, comments=comments)
            for name, part_pages in parts.items():
                run = runs[name]
                outputs = {p.record_id: _SPACE.sub(" ", run(p)) for p in part_pages}
                wanted = [(p.record_id, line) for p in part_pages for line in references[p.record_id]]
                kept = (
                    sum(line in outputs[rid] for rid, line in wanted) / len(wanted)
                    if wanted
                    else float("nan")
                )
                scored = summary(evaluate([p for p in part_pages if p.record_id in gold], gold, run))
                per_page = sum(len(tokens(text)) for text in outputs.values()) / len(outputs)
                print(
                    f"| {engine} | {str(comments).lower()} | {name} | {kept:.3f} | {scored['f1']:.3f} | "
                    f"{scored['snippets']:.3f} | {per_page:.0f} |"
                )


if __name__ == "__main__":
    main()
