"""A gold set that counts reader comments, made by this project on visible pages that have some.

The visible gold leaves comments out; issue 17's held-out gold counts them on many pages, and `comments: true` is
the setting meant for it. This set labels, line by line as `crawl_gold.py` does (the same guideline, blind to
every engine's output), visible pages where plain trafilatura finds comments or `blocks` with `comments: true`
adds text: per half of the site split, the first `PER_HALF` such pages by a hash of their record id, one page a
site, of at most `crawl_gold.MAX_LINES` lines (`blocks` as shipped on 2026-12-07: a later model may pick other
pages; the gold file stays as labelled). Its gold text under the comments-kept convention is the MAIN and COMMENT
lines.

    ../.venv/bin/python comments_gold.py pages DIR
    ../.venv/bin/python crawl_gold.py assemble DIR --labels L [--second L2] --out gold/comments_gold.jsonl.gz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import xxhash
from common import pick_warc
from crawl_gold import MAX_LINES, page_lines, write_pages
from extraction import Page, op_engine, read_pages
from extraction_comments import comment_text
from extraction_split import PARTS, part, site

GOLD_FILE = Path(__file__).resolve().parent / "gold" / "comments_gold.jsonl.gz"
ARCHIVE = "visible_pages"  # the page key's archive name
PER_HALF = 30


def has_comments(page: Page, without, with_) -> bool:
    """Plain trafilatura finds comments on `page`, or `comments: true` changes `blocks`' text."""
    return bool(comment_text(page).strip()) or with_(page) != without(page)


def sample() -> list[tuple[str, Page, list[str]]]:
    """(archive, page, lines) of the sampled pages, the tuning half's first."""
    without, with_ = op_engine("blocks"), op_engine("blocks", comments=True)
    candidates: dict[str, list[tuple[int, Page]]] = {name: [] for name in PARTS}
    for page in read_pages(pick_warc(False, None)):
        if has_comments(page, without, with_):
            candidates[part(page)].append((xxhash.xxh64_intdigest(page.record_id), page))
    sampled = []
    for name in PARTS:
        sites: set[str] = set()
        for _, page in sorted(candidates[name], key=lambda t: t[0]):
            lines = page_lines(page)
            if site(page) in sites or len(lines) > MAX_LINES:
                continue
            sites.add(site(page))
            sampled.append((ARCHIVE, page, lines))
            if len(sites) == PER_HALF:
                break
    return sampled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["pages"])
    parser.add_argument("folder", type=Path)
    write_pages(parser.parse_args().folder, sample())


if __name__ == "__main__":
    main()
