"""What `comments: true` keeps, per half of the site split: reader comments against what the visible gold costs.

The visible gold leaves reader comments out, so it can only score what keeping them costs. For which text is a
comment, trafilatura's own comment extraction stands in (`bare_extraction(include_comments=True)`'s `comments`:
what plain trafilatura, whose defaults keep comments, adds on a page): per half, the share of its comment lines
of 4 or more tokens that an engine's output holds (whitespace collapsed, as the snippet test compares), and the
token F1 of what `comments: true` adds (its output's tokens less those of `comments: false`, as multisets)
against the tokens of trafilatura's comment text, the mean over the pages where trafilatura finds comments
(micro, pooled over those pages, in brackets). Next to it, per half: F1 (mean of the AEB and Readability macro
token F1, as extraction_split.py) and the trafilatura snippet share on the visible gold, and the mean tokens per
page. Engines: the `html_extract` op with `blocks` and with `resiliparse`, each with `comments` false and true.
Nothing here is chosen: it describes the shipped setting (the `blocks` comment rule was chosen on the tuning half
by the added-text F1: benchmarks/RESULTS.md). The `blocks` rows use the shipped model (in-sample on both halves) unless `--blocks-models DIR` gives
the half models of `extraction_blocks.py --halves DIR`.

    cd benchmarks && ../.venv/bin/python extraction_comments.py [--limit N] [--blocks-models DIR]
"""

from __future__ import annotations

import re
from collections import Counter

from common import pick_warc
from extraction import Page, evaluate, load_gold, prf, read_pages, tokens
from extraction_split import PARTS, part, per_part, split_arguments, summary

from curation.ops.html import decode_html

_SPACE = re.compile(r"\s+")
MIN_LINE_TOKENS = 4


def comment_text(page: Page) -> str:
    """trafilatura's comment text of `page` ('' where it finds none or fails)."""
    import trafilatura

    html, _ = decode_html(page.payload, page.http_charset)
    try:
        document = trafilatura.bare_extraction(html, include_comments=True, with_metadata=False)
    except Exception:  # no reference for this page: it has no comments here
        return ""
    return (document.comments if document is not None else None) or ""


def comment_lines(text: str) -> list[str]:
    """The lines of a comment text with at least MIN_LINE_TOKENS tokens, whitespace collapsed."""
    lines = (_SPACE.sub(" ", line).strip() for line in text.splitlines())
    return [line for line in lines if len(tokens(line)) >= MIN_LINE_TOKENS]


def added_f1(with_: str, without: str, reference: str) -> tuple[int, int, int]:
    """(overlap, added tokens, reference tokens): the tokens `with_` holds beyond `without` against `reference`."""
    added = Counter(tokens(with_)) - Counter(tokens(without))
    ref = Counter(tokens(reference))
    return sum((added & ref).values()), sum(added.values()), sum(ref.values())


def main() -> None:
    args = split_arguments(__doc__.split("\n\n")[0])
    gold = load_gold()
    pages = list(read_pages(pick_warc(False, None), args.limit))
    parts = {name: [p for p in pages if part(p) == name] for name in PARTS}
    texts = {p.record_id: comment_text(p) for p in pages}
    references = {rid: comment_lines(text) for rid, text in texts.items()}
    for name, part_pages in parts.items():
        with_comments = [p for p in part_pages if references[p.record_id]]
        lines = sum(len(references[p.record_id]) for p in with_comments)
        print(
            f"{name}: {len(part_pages)} pages; trafilatura finds comment lines on {len(with_comments)} ({lines} lines)"
        )

    print(
        "| engine | comments | part | comment lines kept | added text F1 (micro) | F1 | snippets | tokens per page |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for engine in ("blocks", "resiliparse"):
        outputs = {}
        for comments in (False, True):
            runs = per_part(args.blocks_models, engine, comments=comments)
            for name, part_pages in parts.items():
                run = runs[name]
                out = outputs[comments, name] = {p.record_id: _SPACE.sub(" ", run(p)) for p in part_pages}
                wanted = [(p.record_id, line) for p in part_pages for line in references[p.record_id]]
                kept = sum(line in out[rid] for rid, line in wanted) / len(wanted) if wanted else float("nan")
                added = "-"
                if comments and any(tokens(texts[p.record_id]) for p in part_pages):
                    counts = [
                        added_f1(out[p.record_id], outputs[False, name][p.record_id], texts[p.record_id])
                        for p in part_pages
                        if tokens(texts[p.record_id])
                    ]
                    macro = sum(prf(*c)[2] for c in counts) / len(counts)
                    micro = prf(*(sum(c[i] for c in counts) for i in range(3)))[2]
                    added = f"{macro:.3f} ({micro:.3f})"
                scored = summary(evaluate([p for p in part_pages if p.record_id in gold], gold, run))
                per_page = sum(len(tokens(text)) for text in out.values()) / len(out)
                print(
                    f"| {engine} | {str(comments).lower()} | {name} | {kept:.3f} | {added} | {scored['f1']:.3f} | "
                    f"{scored['snippets']:.3f} | {per_page:.0f} |"
                )


if __name__ == "__main__":
    main()
