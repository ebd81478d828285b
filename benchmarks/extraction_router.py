"""A per-page router (resiliparse, else trafilatura) chosen on the tuning half of the site split, reported on both.

Route a page to trafilatura when resiliparse's main text is shorter than `ratio` of the page's full text or than
`min_chars`; the rule is picked on the tuning half (best F1 + snippet share among rules keeping >= 5x
trafilatura's pages per CPU-second), then reported on both halves. Page costs are measured once per engine.

    cd benchmarks && ../.venv/bin/python extraction_router.py
"""

from __future__ import annotations

import itertools
import time

import numpy as np
from common import pick_warc
from extraction import load_gold, op_engine, prf, read_pages, snippet_score, token_prf
from extraction_split import part
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from curation.ops.html import decode_html


def page_rows() -> tuple[list[dict], dict[str, float]]:
    """Per page: part, dataset, lengths and the score of each engine; and CPU seconds per page per pass."""
    gold = load_gold()
    pages = [p for p in read_pages(pick_warc(False, None)) if p.record_id in gold]
    res, traf = op_engine("resiliparse", resiliparse_fallback_chars=None), op_engine("trafilatura")
    cost = {"resiliparse": 0.0, "full": 0.0, "trafilatura": 0.0}
    rows = []
    for p in pages:
        g = gold[p.record_id]

        def score(text: str, g: dict = g) -> float:
            if "gold_text" in g:
                return prf(*token_prf(text, g["gold_text"]))[2]
            present, n_with, absent, n_without = snippet_score(
                text, g.get("with") or [], g.get("without") or []
            )
            return (present + absent) / max(1, n_with + n_without)

        t0 = time.process_time()
        main = res(p)
        t1 = time.process_time()
        full = extract_plain_text(
            HTMLTree.parse(decode_html(p.payload, p.http_charset)[0]), main_content=False
        )
        t2 = time.process_time()
        other = traf(p)
        t3 = time.process_time()
        cost["resiliparse"] += t1 - t0
        cost["full"] += t2 - t1
        cost["trafilatura"] += t3 - t2
        rows.append(
            {
                "part": part(p),
                "dataset": g["dataset"],
                "main": len(main),
                "full": len(full),
                "res": score(main),
                "traf": score(other),
            }
        )
    return rows, {k: v / len(pages) for k, v in cost.items()}


def evaluate(
    rows: list[dict], cost: dict[str, float], part_name: str, route
) -> tuple[float, float, float, float]:
    """(F1 mean of AEB and Readability, snippet share, share routed, pages per CPU-second)."""
    f1: dict[str, list[float]] = {"scrapinghub_aeb": [], "mozilla_readability": []}
    snippets, routed = [], 0
    picked = [r for r in rows if r["part"] == part_name]
    for r in picked:
        use = route(r)
        routed += use
        value = r["traf"] if use else r["res"]
        f1.get(r["dataset"], snippets).append(value)
    share = routed / len(picked)
    per_page = cost["resiliparse"] + cost["full"] + share * cost["trafilatura"]
    return float(np.mean([np.mean(v) for v in f1.values()])), float(np.mean(snippets)), share, 1 / per_page


def main() -> None:
    rows, cost = page_rows()
    floor = 5 / cost["trafilatura"]
    rules = {
        (ratio, min_chars): (lambda r, a=ratio, b=min_chars: r["main"] < a * r["full"] or r["main"] < b)
        for ratio, min_chars in itertools.product((0, 0.05, 0.1, 0.15, 0.2, 0.3), (0, 100, 500, 1000))
    }
    fits = {k: evaluate(rows, cost, "tuning", f) for k, f in rules.items()}
    best = max((k for k, v in fits.items() if v[3] >= floor), key=lambda k: fits[k][0] + fits[k][1])
    print(f"rule chosen on tuning: ratio {best[0]}, min_chars {best[1]}")
    print("| engine | part | F1 | snippets | routed | pages/CPU-s |")
    print("|---|---|---|---|---|---|")
    for name, route in (
        ("router", rules[best]),
        ("resiliparse (op)", lambda r: False),
        ("trafilatura (op)", lambda r: True),
    ):
        for part_name in ("tuning", "reporting"):
            f, s, share, speed = evaluate(rows, cost, part_name, route)
            print(f"| {name} | {part_name} | {f:.3f} | {s:.3f} | {share:.3f} | {speed:.0f} |")


if __name__ == "__main__":
    main()
