"""A main-content gold set on old crawl pages, made by this project: annotation pages, assembly, loading.

The visible gold (AEB, Readability, trafilatura's eval set) is recent article pages; issue 17's held-out pages come
from other benchmarks, of other sites and years, with other conventions. This gold is a fourth convention on pages
unlike the visible ones: HTML responses of ../shared/data/warc/samples (Common Crawl 2008 ARC, ClueWeb09, Dolma's
and resiliparse's Common Crawl samples, Internet Archive captures; pywb's GPL sample left out), the same pages
`extraction_crawl.py` reads. Annotation unit: the lines of the page's whole visible text (resiliparse,
`main_content=False`), each labelled MAIN, COMMENT or neither by the guideline in `gold/README.md`, blind to
every engine's output. The gold text of a page is its MAIN lines (and, for the comments-kept convention, its
COMMENT lines too), scored by token F1 as extraction.py scores.

    ../.venv/bin/python crawl_gold.py pages DIR              # the annotation pages and their manifest
    ../.venv/bin/python crawl_gold.py assemble DIR --labels L [--second L2]   # -> gold/crawl_gold.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import xxhash
from extraction import Page
from extraction_crawl import crawl_pages

from curation.ops.html import decode_html

GOLD_FILE = Path(__file__).resolve().parent / "gold" / "crawl_gold.jsonl.gz"
MIN_WORDS, MAX_LINES = 100, 400
QUOTA = {  # pages per archive: every eligible page of the archives of many sites, a few of the one-site ones
    "copycat_cc2008": 101,
    "copycat_clueweb09": 17,
    "copycat_clueweb12": 3,
    "dolma_sample-0000": 22,
    "dolma_sample-0001": 15,
    "ipwb_sample-1": 16,
    "ipwb_IAH-20080430204825-00000-blackbook": 12,
    "resiliparse_cc": 15,
    "resiliparse_clueweb": 29,
    "cc_whirlwind": 1,
    "jwarc_cc": 1,
}


def page_lines(page: Page) -> list[str]:
    """The page's whole visible text, one stripped non-empty line per block (the annotation unit)."""
    from resiliparse.extract.html2text import extract_plain_text

    html = decode_html(page.payload, page.http_charset)[0]
    text = extract_plain_text(
        html,
        main_content=False,
        preserve_formatting=True,
        list_bullets=True,
        alt_texts=False,
        links=False,
        form_fields=False,
        noscript=False,
        comments=True,
    )
    return [line.strip() for line in text.split("\n") if line.strip()]


def page_key(archive: str, page: Page) -> str:
    """Archive, URL and payload digest: what ties a gold row to its page."""
    return f"{archive} {page.url} {hashlib.sha1(page.payload).hexdigest()}"


def sample() -> list[tuple[str, Page, list[str]]]:
    """The annotated pages: per archive, the first `QUOTA` pages by a hash of their record id among the pages of
    at least `MIN_WORDS` words and at most `MAX_LINES` lines (long listings would take an annotator hours); a page
    an archive holds twice (the same `page_key`) once, its first copy in hash order."""
    eligible: dict[str, list[tuple[int, Page, list[str]]]] = {}
    for archive, page in crawl_pages():
        lines = page_lines(page)
        if sum(len(line.split()) for line in lines) >= MIN_WORDS and len(lines) <= MAX_LINES:
            eligible.setdefault(archive, []).append((xxhash.xxh64_intdigest(page.record_id), page, lines))
    sampled = []
    for archive, quota in QUOTA.items():
        keys: set[str] = set()
        for _, page, lines in sorted(eligible.get(archive, []), key=lambda t: t[0]):
            if len(keys) == quota:
                break
            if (key := page_key(archive, page)) not in keys:
                keys.add(key)
                sampled.append((archive, page, lines))
    return sampled


def write_pages(folder: Path, sampled: list[tuple[str, Page, list[str]]]) -> None:
    """`pNNN.txt` (URL, then `N<TAB>line`) per (archive, page, lines) of `sampled`, and `manifest.json`."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = []
    for i, (archive, page, lines) in enumerate(sampled):
        pid = f"p{i:03d}"
        body = "\n".join(f"{n}\t{line}" for n, line in enumerate(lines))
        (folder / f"{pid}.txt").write_text(f"URL: {page.url}\n\n{body}\n")
        manifest.append({"id": pid, "key": page_key(archive, page), "url": page.url, "lines": lines})
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _selected(lines: list[str], ranges: list[list[int]]) -> list[str]:
    picked: set[int] = set()
    for first, last in ranges:
        if not 0 <= first <= last < len(lines):
            raise ValueError(f"range {first}-{last} outside 0-{len(lines) - 1}")
        picked.update(range(first, last + 1))
    return [lines[i] for i in sorted(picked)]


def _labels(folder: Path | None, pid: str, lines: list[str]) -> dict[str, Any] | None:
    path = folder / f"{pid}.json" if folder else None
    if path is None or not path.exists():
        return None
    label = json.loads(path.read_text())
    return {
        "main_lines": _selected(lines, label["main"]),
        "comment_lines": _selected(lines, label["comments"]),
        "kind": label["kind"],
        "note": label.get("note", ""),
    }


def assemble(folder: Path, labels: Path, second: Path | None, out: Path = GOLD_FILE) -> int:
    """Gold rows (key, url, kind, main and comment lines, the second annotation where there is one) -> `out`."""
    rows = []
    for entry in json.loads((folder / "manifest.json").read_text()):
        first = _labels(labels, entry["id"], entry["lines"])
        if first is None:
            raise SystemExit(f"{entry['id']}: no label file in {labels}")
        row = {"key": entry["key"], "url": entry["url"], **first}
        if (other := _labels(second, entry["id"], entry["lines"])) is not None:
            row["second"] = {k: other[k] for k in ("main_lines", "comment_lines")}
        rows.append(row)
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    return len(rows)


def load_crawl_gold(path: Path = GOLD_FILE) -> dict[str, dict[str, Any]]:
    """page key -> gold row."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return {row["key"]: row for row in map(json.loads, fh)}


def gold_pages(
    gold: dict[str, dict[str, Any]], pages: Iterable[tuple[str, Page]]
) -> list[tuple[Page, dict[str, Any]]]:
    """(page, gold row) for each (archive, page) of `pages` that has a row in `gold`, in page order; a page an
    archive holds twice, once."""
    seen: set[str] = set()
    paired = []
    for archive, page in pages:
        if (key := page_key(archive, page)) in gold and key not in seen:
            seen.add(key)
            paired.append((page, gold[key]))
    return paired


def training_pages(half: str = "tuning") -> tuple[list[Page], dict[str, dict[str, Any]]]:
    """The pages of one half of the site split (`extraction_split.part`) and their gold as training gold: record id
    -> {"gold_text": the MAIN lines, "dataset": "crawl_gold"} (`extraction_blocks.page_table`'s gold)."""
    from extraction_split import part

    chosen = [(page, row) for page, row in gold_pages(load_crawl_gold(), crawl_pages()) if part(page) == half]
    training = {
        page.record_id: {"gold_text": "\n".join(row["main_lines"]), "dataset": "crawl_gold"}
        for page, row in chosen
    }
    return [page for page, _ in chosen], training


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["pages", "assemble"])
    parser.add_argument("folder", type=Path, help="the annotation pages' folder")
    parser.add_argument("--labels", type=Path, help="the label files (assemble)")
    parser.add_argument("--second", type=Path, help="a second annotator's label files, for agreement")
    parser.add_argument("--out", type=Path, default=GOLD_FILE, help="the gold file assemble writes")
    args = parser.parse_args()
    if args.command == "pages":
        write_pages(args.folder, sample())
    else:
        print(assemble(args.folder, args.labels, args.second, args.out), "gold rows ->", args.out)


if __name__ == "__main__":
    main()
