"""Main-text extraction quality and speed of each html_extract engine against the gold of ../shared/data/extraction.

    python benchmarks/extraction.py [--quick] [--limit N] [--engines resiliparse,trafilatura] [--repeat N] [--out FILE]
    python benchmarks/extraction.py --warc OTHER.warc.gz --gold OTHER_GOLD_DIR   # gold this project does not hold

Scores, per engine, on the pages of the WARC that have gold (each `*.jsonl[.gz]` of the gold folder is one set;
a row is keyed by the WARC `record_id`, or by `url`, and holds `gold_text` or `with` / `without` snippets):
- all gold-text pages together: the mean over pages of token-level P / R / F1, the figure issue 17 gives for
  its held-out pages;
- each set with `gold_text` (here scrapinghub_aeb and mozilla_readability): token-level precision / recall / F1,
  the way the scrapinghub article-extraction-benchmark scores a page: both texts become bags of word tokens and
  the overlap is the multiset intersection. Reported as the mean over pages (macro) and over pooled counts (micro).
- each set with snippets (trafilatura_eval, `with` / `without`): the fraction of `with` snippets present in the
  output, of `without` snippets absent from it, and of all snippets handled correctly (whitespace-normalised,
  case-sensitive substring test).
- speed: pages/s over all pages of the WARC (decoding included), by wall clock and by CPU time of this
  process (the CPU figure is the one to trust on a loaded machine).
- with `trafilatura_defaults` among the engines, a second table puts each engine against it as issue 17's goal
  does: mean F1 over all gold-text pages minus plain trafilatura's, with a 95 % interval from a paired bootstrap
  that resamples sites (hosts), the ratio of pages per CPU-second, and whether the engine meets the goal (F1 at
  least plain trafilatura's, at 5x or more its pages per CPU-second). Timings are the median of `--repeat` (3)
  rounds over all engines: one pass on a shared machine varies by about 20 %.

Engines: `resiliparse`, `trafilatura` and `blocks` (the learned block classifier) run through the op's own code (`HtmlExtract._one`, so
`decode_html` charset sniffing and the engine functions of curation.ops.html; `resiliparse_no_fallback` is the
`resiliparse` engine without its fallback to `blocks`; `resiliparse_comments`, `trafilatura_comments` and
`blocks_comments` are the engines with `comments: true`, for gold that counts reader comments, as plain trafilatura
keeps them; `resiliparse_post_meta`, `blocks_post_meta` and `blocks_comments_post_meta` add `post_meta: true`, for
gold that counts headlines and bylines); reference points
`resiliparse_full` (main_content=False), `trafilatura_defaults` (plain `trafilatura.extract`), `trafilatura_precision` (favor_precision=True), `trafilatura_fast`
(fast=True: no fallback extractors), and `datatrove`
(datatrove's Trafilatura extractor settings on datatrove's WarcReader decoding; only when datatrove is
installed).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from common import (
    EXTRACTION_GOLD,
    command_line,
    machine,
    markdown_table,
    median,
    paired_interval,
    pick_warc,
    save_results,
)

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# One token per CJK character (those scripts do not separate words), else runs of letters/digits.
_TOKEN = re.compile(rf"[{CJK}]|[^\W{CJK}]+")
_SPACE = re.compile(r"\s+")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens of `text` (CJK characters are one token each)."""
    return _TOKEN.findall(text.lower())


def token_prf(predicted: str, gold: str) -> tuple[int, int, int]:
    """(overlap, predicted tokens, gold tokens): the multiset intersection of the two bags of tokens."""
    pred, ref = Counter(tokens(predicted)), Counter(tokens(gold))
    overlap = sum((pred & ref).values())
    return overlap, sum(pred.values()), sum(ref.values())


def prf(overlap: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall, F1 from counts. An empty output scores 0 precision (and 0 F1) unless gold is empty too."""
    if n_pred == 0 and n_gold == 0:
        return 1.0, 1.0, 1.0
    p = overlap / n_pred if n_pred else 0.0
    r = overlap / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def snippet_score(predicted: str, with_: list[str], without: list[str]) -> tuple[int, int, int, int]:
    """(with present, with total, without absent, without total) for trafilatura's evaluation snippets."""
    text = _SPACE.sub(" ", predicted)
    present = sum(_SPACE.sub(" ", s).strip() in text for s in with_)
    absent = sum(_SPACE.sub(" ", s).strip() not in text for s in without)
    return present, len(with_), absent, len(without)


# ---- engines -------------------------------------------------------------------------------------------------


@dataclass
class Page:
    """One WARC response record: its id (the gold key), URL, payload bytes and HTTP content type/charset."""

    record_id: str
    url: str | None
    payload: bytes
    content_type: str | None
    http_charset: str | None


def site(page: Page) -> str:
    """The page's host without `www.` (its record id where it has no URL): the unit that splits and resamples."""
    host = (urlsplit(page.url or "").hostname or page.record_id).lower()
    return host.removeprefix("www.")


def op_engine(engine: str, **options: bool | str | None) -> Callable[[Page], str]:
    """The html_extract op's own per-page path (charset sniffing, engine, blank-line clean-up), with `options`
    as the op's other parameters."""
    from curation.ops.html import HtmlExtract

    op = HtmlExtract(engine=engine, **options)

    def run(page: Page) -> str:
        text, *_ = op._one(page.payload, page.content_type, page.http_charset)
        return text or ""

    return run


def _resiliparse_full(page: Page) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    from curation.ops.html import decode_html

    html, _ = decode_html(page.payload, page.http_charset)
    return extract_plain_text(HTMLTree.parse(html), main_content=False, alt_texts=False, comments=False)


def _trafilatura_defaults(page: Page) -> str:
    """Plain `trafilatura.extract()` (its defaults: comments and tables kept), on the op's charset sniffing."""
    import trafilatura

    from curation.ops.html import decode_html

    return trafilatura.extract(decode_html(page.payload, page.http_charset)[0]) or ""


def _trafilatura_with(**options: bool) -> Callable[[Page], str]:
    """trafilatura with the op's settings plus `options`, on the op's charset sniffing."""

    def run(page: Page) -> str:
        import trafilatura

        from curation.ops.html import decode_html

        html, _ = decode_html(page.payload, page.http_charset)
        return trafilatura.extract(html, include_comments=False, include_tables=True, **options) or ""

    return run


def _datatrove_engine() -> Callable[[Page], str]:
    """datatrove's FineWeb extraction: WarcReader's decoding (UTF-8, else cchardet) + its Trafilatura settings."""
    import cchardet
    from datatrove.pipeline.extractors import Trafilatura

    extractor = Trafilatura(favour_precision=True)

    def run(page: Page) -> str:
        try:
            html = page.payload.decode("utf-8")
        except UnicodeDecodeError:
            enc = cchardet.detect(page.payload)["encoding"]
            try:
                html = page.payload.decode(enc) if enc else ""
            except (UnicodeDecodeError, LookupError):
                html = ""  # datatrove's reader drops such a record
        return (extractor.extract(html) if html else "") or ""

    return run


def build_engines(names: list[str]) -> dict[str, Callable[[Page], str]]:
    """Engine name -> page extractor. Unknown names are an error; `datatrove` needs datatrove installed."""
    makers: dict[str, Callable[[], Callable[[Page], str]]] = {
        "resiliparse": lambda: op_engine("resiliparse"),
        "resiliparse_no_fallback": lambda: op_engine("resiliparse", resiliparse_fallback_chars=None),
        "trafilatura": lambda: op_engine("trafilatura"),
        "blocks": lambda: op_engine("blocks"),
        "resiliparse_comments": lambda: op_engine("resiliparse", comments=True),
        "trafilatura_comments": lambda: op_engine("trafilatura", comments=True),
        "blocks_comments": lambda: op_engine("blocks", comments=True),
        "resiliparse_post_meta": lambda: op_engine("resiliparse", post_meta=True),
        "blocks_post_meta": lambda: op_engine("blocks", post_meta=True),
        "blocks_comments_post_meta": lambda: op_engine("blocks", comments=True, post_meta=True),
        "trafilatura_defaults": lambda: _trafilatura_defaults,
        "resiliparse_full": lambda: _resiliparse_full,
        "trafilatura_precision": lambda: _trafilatura_with(favor_precision=True),
        "trafilatura_fast": lambda: _trafilatura_with(fast=True),
        "datatrove": _datatrove_engine,
    }
    unknown = [n for n in names if n not in makers]
    if unknown:
        raise SystemExit(f"unknown engine(s) {unknown}; valid: {', '.join(makers)}")
    return {n: makers[n]() for n in names}


def datatrove_available() -> bool:
    """True when datatrove and its WARC decoding dependency import."""
    try:
        import cchardet  # noqa: F401
        import datatrove.pipeline.extractors  # noqa: F401
    except ImportError:
        return False
    return True


# ---- data ----------------------------------------------------------------------------------------------------


def read_pages(warc: Path, limit: int | None = None) -> Iterator[Page]:
    """Response records of `warc` with FastWARC (as curation.io.warc reads them), up to `limit`."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    for n, record in enumerate(
        ArchiveIterator(str(warc), record_types=WarcRecordType.response, parse_http=True)
    ):
        if limit is not None and n >= limit:
            return
        yield Page(
            record_id=record.headers.get("WARC-Record-ID"),
            url=record.headers.get("WARC-Target-URI"),
            payload=record.reader.read(),
            content_type=record.http_content_type,
            http_charset=record.http_charset,
        )


def load_gold(folder: Path = EXTRACTION_GOLD) -> dict[str, dict[str, Any]]:
    """record_id (or, for rows without one, URL) -> gold row, with its `dataset` (the file's name without
    `.jsonl[.gz]`), from every `*.jsonl.gz` and `*.jsonl` of `folder`. A row holds `gold_text`, or
    trafilatura-eval's `with` / `without` snippets; ../shared/data/extraction holds the three visible sets."""
    paths = sorted([*folder.glob("*.jsonl.gz"), *folder.glob("*.jsonl")])
    if not paths:
        raise SystemExit(
            f"skip: no *.jsonl[.gz] gold in {folder} (../shared/data is not present on this machine?)"
        )
    gold: dict[str, dict[str, Any]] = {}
    for path in paths:
        dataset = path.name.removesuffix(".gz").removesuffix(".jsonl")
        with (
            gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")
        ) as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                row["dataset"] = dataset
                key = row.get("record_id") or row.get("url")
                if not key:
                    raise SystemExit(f"{path}: a gold row has neither `record_id` nor `url`")
                gold[key] = row
    return gold


def gold_row(gold: dict[str, dict[str, Any]], page: Page) -> dict[str, Any] | None:
    """The gold row of `page`: by WARC record id, else by URL."""
    return gold.get(page.record_id) or (gold.get(page.url) if page.url else None)


# ---- run -----------------------------------------------------------------------------------------------------


def evaluate(
    pages: list[Page], gold: dict[str, dict[str, Any]], extract: Callable[[Page], str]
) -> dict[str, Any]:
    """Run one engine on every page (timed) and score the pages that have gold."""
    outputs: list[str] = []
    errors = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for page in pages:
        try:
            outputs.append(extract(page))
        except Exception:  # an engine failure is this page's empty output, counted
            errors += 1
            outputs.append("")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    per_set: dict[str, dict[str, Any]] = {}
    gold_text_f1: list[float] = []  # per gold-text page in page order, for paired comparisons
    for page, text in zip(pages, outputs, strict=True):
        row = gold_row(gold, page)
        if row is None:
            continue
        acc = per_set.setdefault(
            row["dataset"], {"pages": 0, "empty": 0, "counts": [0, 0, 0], "f1s": [], "snip": [0] * 4}
        )
        acc["pages"] += 1
        acc["empty"] += not text.strip()
        if "gold_text" in row:
            o, p, g = token_prf(text, row["gold_text"])
            acc["counts"] = [a + b for a, b in zip(acc["counts"], (o, p, g), strict=True)]
            acc["f1s"].append(prf(o, p, g))
            gold_text_f1.append(acc["f1s"][-1][2])
        else:
            score = snippet_score(text, row.get("with") or [], row.get("without") or [])
            acc["snip"] = [a + b for a, b in zip(acc["snip"], score, strict=True)]

    scores: dict[str, Any] = {}
    for dataset, acc in sorted(per_set.items()):
        entry: dict[str, Any] = {"pages": acc["pages"], "empty_outputs": acc["empty"]}
        if acc["f1s"]:
            n = len(acc["f1s"])
            entry["macro"] = {k: sum(x[i] for x in acc["f1s"]) / n for i, k in enumerate("prf")}
            entry["micro"] = dict(zip("prf", prf(*acc["counts"]), strict=True))
        if acc["snip"][1] + acc["snip"][3]:
            present, n_with, absent, n_without = acc["snip"]
            entry["with_present"] = present / n_with if n_with else None
            entry["without_absent"] = absent / n_without if n_without else None
            entry["snippets_correct"] = (present + absent) / (n_with + n_without)
            entry["snippets"] = n_with + n_without
        scores[dataset] = entry
    page_f1s = [f for acc in per_set.values() for f in acc["f1s"]]
    return {
        "pages": len(pages),
        "errors": errors,
        "wall_s": wall,
        "cpu_s": cpu,
        "pages_per_s": len(pages) / wall if wall else None,
        "pages_per_cpu_s": len(pages) / cpu if cpu else None,
        "scores": scores,
        # every gold-text page of every set, each counted once (how issue 17 gives its held-out figures)
        "all_gold_text": {
            "pages": len(page_f1s),
            "macro": {k: sum(x[i] for x in page_f1s) / len(page_f1s) for i, k in enumerate("prf")},
            "page_f1": gold_text_f1,
        }
        if page_f1s
        else None,
    }


SET_LABELS = {"scrapinghub_aeb": "AEB", "mozilla_readability": "Readability", "trafilatura_eval": "traf."}
SNIPPET_COLUMNS = {
    "with_present": "with present",
    "without_absent": "without absent",
    "snippets_correct": "snippets correct",
}


def _f1(entry: dict[str, Any] | None) -> str:
    return (
        f"{entry['macro']['f']:.3f} ({entry['macro']['p']:.2f}/{entry['macro']['r']:.2f})" if entry else "-"
    )


def report(results: dict[str, dict[str, Any]]) -> str:
    """The markdown table: F1 (P/R) over all gold-text pages and per gold-text set, trafilatura-eval's snippet
    figures for each snippet set, pages/s."""
    sets = sorted({d for res in results.values() for d in res["scores"]})
    text_sets = [d for d in sets if any("macro" in res["scores"].get(d, {}) for res in results.values())]
    snippet_sets = [
        d for d in sets if any("snippets" in res["scores"].get(d, {}) for res in results.values())
    ]
    rows = []
    for name, res in results.items():
        s = res["scores"]
        row = [name]
        if len(text_sets) > 1:
            row.append(_f1(res.get("all_gold_text")))
        row += [_f1(s.get(d)) for d in text_sets]
        for d in snippet_sets:
            snip = s.get(d, {})
            row += [f"{snip[k]:.3f}" if snip.get(k) is not None else "-" for k in SNIPPET_COLUMNS]
        rows.append([*row, f"{res['pages_per_s']:.1f}", f"{res['pages_per_cpu_s']:.1f}"])
    headers = ["engine"]
    if len(text_sets) > 1:
        headers.append("all gold-text pages F1 (P/R)")
    headers += [f"{SET_LABELS.get(d, d)} F1 (P/R)" for d in text_sets]
    for d in snippet_sets:
        headers += [f"{SET_LABELS.get(d, d)} {label}" for label in SNIPPET_COLUMNS.values()]
    return markdown_table([*headers, "pages/s (wall)", "pages/CPU-s"], rows)


REFERENCE = "trafilatura_defaults"  # plain trafilatura.extract(): issue 17's yardstick
SPEED_GOAL = 5.0  # issue 17: at least this many times the reference's pages per CPU-second


def against_reference(results: dict[str, dict[str, Any]], sites: list[str]) -> dict[str, dict[str, Any]]:
    """Per engine, against plain trafilatura (REFERENCE) on the gold-text pages (`sites`: their sites, in page
    order): mean F1 minus the reference's with its 95 % interval (paired bootstrap resampling sites), the ratio of
    pages per CPU-second, and whether both meet issue 17's goal (F1 at least the reference's, point estimates, at
    >= SPEED_GOAL times its speed). Empty without the reference or gold-text pages."""
    ref = results.get(REFERENCE)
    if ref is None or not ref["all_gold_text"]:
        return {}
    ref_f1 = np.array(ref["all_gold_text"]["page_f1"])
    compared = {}
    for name, res in results.items():
        f1 = np.array(res["all_gold_text"]["page_f1"])
        low, high = paired_interval(f1, ref_f1, sites)
        diff = float(f1.mean() - ref_f1.mean())
        ratio = res["pages_per_cpu_s"] / ref["pages_per_cpu_s"]
        compared[name] = {
            "f1_minus_reference": diff,
            "interval": [low, high],
            "speed_ratio": ratio,
            "meets_goal": diff >= 0 and ratio >= SPEED_GOAL,
        }
    return compared


def comparison_table(compared: dict[str, dict[str, Any]]) -> str:
    """The markdown table of `against_reference`, F1 in points."""
    rows = [
        [
            name,
            f"{100 * c['f1_minus_reference']:+.1f}",
            f"{100 * c['interval'][0]:+.1f} to {100 * c['interval'][1]:+.1f}",
            f"{c['speed_ratio']:.1f}x",
            "yes" if c["meets_goal"] else "no",
        ]
        for name, c in compared.items()
    ]
    return markdown_table(
        [
            "engine",
            "F1 minus plain trafilatura, all gold-text pages (points)",
            "95 % interval (sites resampled)",
            "pages/CPU-s, times plain trafilatura's",
            f"F1 >= plain trafilatura's at >= {SPEED_GOAL:.0f}x its speed",
        ],
        rows,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """CLI entry point: run the engines, print the table, write the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="the bundled demo WARC (152 pages) instead of 1,307"
    )
    parser.add_argument("--warc", help="another WARC (its gold keyed by record id or URL, see --gold)")
    parser.add_argument(
        "--gold",
        type=Path,
        default=EXTRACTION_GOLD,
        help="folder of gold JSONL[.gz], one file a set, rows keyed by `record_id` or `url` with `gold_text` or "
        "`with`/`without` snippets (default: ../shared/data/extraction)",
    )
    parser.add_argument("--limit", type=int, help="only the first N pages (smoke tests)")
    parser.add_argument(
        "--engines",
        default="resiliparse,blocks,blocks_comments,blocks_comments_post_meta,trafilatura,trafilatura_defaults,"
        "resiliparse_full,trafilatura_precision,trafilatura_fast,datatrove",
        help="comma-separated; `datatrove` is skipped when datatrove is not installed",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="time each engine N times (rounds over all engines), report the median (1: a quick pass)",
    )
    parser.add_argument("--out", default="/tmp/mmcurate_bench/extraction.json")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    warc = pick_warc(args.quick, args.warc)
    gold = load_gold(args.gold)
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    if "datatrove" in names and not datatrove_available():
        print("note: datatrove is not installed; skipping the `datatrove` engine")
        names.remove("datatrove")
    engines = build_engines(names)
    pages = list(read_pages(warc, args.limit))
    print(f"{warc}: {len(pages)} pages, {sum(gold_row(gold, p) is not None for p in pages)} with gold")

    for extract in engines.values():
        extract(pages[0])  # warm-up: imports and lazy initialisation stay out of the timing
    results: dict[str, dict[str, Any]] = {}
    # repeats go round the engines, so a change in the machine's load over the run falls on every engine alike;
    # outputs are deterministic, so repeats only re-time the engines
    for _ in range(args.repeat):
        for name, extract in engines.items():
            run = evaluate(pages, gold, extract)
            print(f"  {name}: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU", flush=True)
            res = results.setdefault(name, run)
            for key in ("wall_s", "cpu_s"):
                res.setdefault(f"all_{key}", []).append(run[key])
    if args.repeat > 1:
        for res in results.values():
            res["wall_s"], res["cpu_s"] = median(res["all_wall_s"]), median(res["all_cpu_s"])
            res["pages_per_s"], res["pages_per_cpu_s"] = (
                res["pages"] / res["wall_s"],
                res["pages"] / res["cpu_s"],
            )
    print()
    print(report(results))
    sites = [site(p) for p in pages if (row := gold_row(gold, p)) is not None and "gold_text" in row]
    compared = against_reference(results, sites)
    if compared:
        print()
        print(comparison_table(compared))
    payload = {
        "benchmark": "extraction",
        "warc": str(warc),
        "command": command_line("extraction.py", argv),
        "machine": machine(),
        "metric": "token multiset overlap, word tokens lower-cased, CJK per character; macro = mean over pages",
        "engines": results,
        "against_plain_trafilatura": compared,
    }
    return save_results(args.out, payload)


if __name__ == "__main__":
    main()
