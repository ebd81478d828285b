"""How the extraction engines behave on real crawl pages no engine was tuned on (no gold): agreement with plain
trafilatura and output length, per archive.

The HTML responses of ../shared/data/warc/samples (Common Crawl 2008/2009 ARC, ClueWeb09/12, Dolma's and
resiliparse's Common Crawl samples, Internet Archive captures; pywb's GPL sample left out) are old and mostly
not articles (home pages, listings, forums), unlike the visible gold. Agreement is token F1 against plain
`trafilatura.extract()`'s output (`trafilatura_defaults`), over the pages where that output is not empty; it is
a proxy that says where engines differ (shorter or longer output), not which one is right.

    .venv/bin/python benchmarks/extraction_crawl.py
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from common import SHARED_DATA
from extraction import Page, build_engines, prf, token_prf
from extraction_split import resiliparse_with

from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit
from curation.io.warc import read_arc, read_warc

ENGINES = [
    "blocks",
    "resiliparse",
    "resiliparse_no_fallback",
    "trafilatura",
    "trafilatura_defaults",
]  # the names of extraction.py


def crawl_pages() -> list[tuple[str, Page]]:
    """(archive, page) for the HTML responses of the sample archives (WAT/WET and pywb's GPL sample left out)."""
    pages = []
    paths = sorted((SHARED_DATA / "warc" / "samples").iterdir())
    for index, path in enumerate(p for p in paths if not any(s in p.name for s in (".wat", ".wet", "pywb"))):
        fmt = "arc" if ".arc" in path.name else "warc"
        archive = "_".join(path.name.split(".")[0].split("_")[:2])  # e.g. copycat_cc2008
        for table in (read_arc if fmt == "arc" else read_warc)(
            Unit(index, str(path), fmt), ReaderStats(), 512
        ):
            for row in table.select(["url", "payload", "content_type", "http_charset"]).to_pylist():
                if "html" in (row["content_type"] or "").lower() and row["payload"]:
                    page = Page(f"{archive}:{len(pages)}", *row.values())
                    pages.append((archive, page))
    return pages


def main() -> None:
    pages = crawl_pages()
    engines = {**build_engines(ENGINES), "resiliparse_main_content": resiliparse_with()}
    outputs = {name: [fn(page) for _, page in pages] for name, fn in engines.items()}
    reference = outputs["trafilatura_defaults"]
    scored = [i for i, text in enumerate(reference) if text.strip()]
    print(f"{len(pages)} HTML pages, {len(scored)} where plain trafilatura returns text")
    print(
        "| engine | agreement F1 | median length / trafilatura's | empty | agreement F1 per archive (pages) |"
    )
    print("|---|---|---|---|---|")
    for name, texts in outputs.items():
        f1 = {i: prf(*token_prf(texts[i], reference[i]))[2] for i in scored}
        ratio = np.median([len(texts[i]) / len(reference[i]) for i in scored])
        by_archive: dict[str, list[float]] = defaultdict(list)
        for i in scored:
            by_archive[pages[i][0]].append(f1[i])
        big = ", ".join(
            f"{a} {np.mean(v):.2f} ({len(v)})" for a, v in sorted(by_archive.items()) if len(v) >= 15
        )
        empty = sum(not texts[i].strip() for i in scored)
        print(f"| {name} | {np.mean(list(f1.values())):.3f} | {ratio:.2f} | {empty} | {big} |")


if __name__ == "__main__":
    main()
