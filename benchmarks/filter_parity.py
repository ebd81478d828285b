"""Filter parity: this project's Gopher/C4/FineWeb filters against datatrove's (what FineWeb ran), per document.

Texts: the visible gold main texts (`extraction/`: AEB `gold_text`, Readability `gold_text`) and the Common Crawl
texts of `cc_text/`. Prints, per filter, how many documents each side drops and the share of documents on which
the keep/drop decision agrees, plus the disagreeing documents with both sides' reasons.

    .venv/bin/python benchmarks/filter_parity.py [--show 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
from common import cc_texts

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def visible_texts(shared: Path = SHARED) -> list[str]:
    """The gold main texts and the extracted CC texts, in a fixed order, empty texts left out."""
    texts = []
    for name in ("scrapinghub_aeb", "mozilla_readability"):
        with gzip.open(shared / "extraction" / f"{name}.jsonl.gz", "rt") as f:
            texts += [json.loads(line).get("gold_text") or "" for line in f]
    texts += cc_texts(shared)
    return [t for t in texts if t.strip()]


def pairs() -> dict[str, tuple[object, object]]:
    """(ours, datatrove's) filter per name, both at their defaults (the papers' thresholds)."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    from curation.ops.c4 import C4Quality
    from curation.ops.fineweb import FineWebQuality
    from curation.ops.gopher import GopherQuality, GopherRepetition

    return {
        "gopher_repetition": (GopherRepetition(), GopherRepetitionFilter()),
        "gopher_quality": (GopherQuality(), GopherQualityFilter()),
        "gopher_quality (punctuation as words)": (
            GopherQuality(alpha_ratio_counts_punctuation=True),
            GopherQualityFilter(),
        ),
        "c4_quality": (C4Quality(), C4QualityFilter()),
        "fineweb_quality": (FineWebQuality(), FineWebQualityFilter()),
    }


def ours_reasons(op, texts: list[str]) -> list[str | None]:
    return op.evaluate(pa.table({"text": texts})).column("_drop").to_pylist()


def datatrove_reasons(filters: dict[str, object], texts: list[str]) -> dict[str, list[str | None]]:
    """datatrove's drop reason (None = kept) per filter and document. Each document goes through every filter in
    turn, so datatrove's per-text word-split cache serves them all."""
    from datatrove.data import Document

    out: dict[str, list[str | None]] = {name: [] for name in filters}
    for i, text in enumerate(texts):
        for name, flt in filters.items():
            res = flt.filter(Document(text=text, id=str(i)))
            keep, reason = (res, None) if isinstance(res, bool) else res
            out[name].append(None if keep else (reason or "dropped"))
    return out


def parity(texts: list[str]) -> dict[str, dict]:
    """Per filter: drops on each side, agreement, CPU seconds on our side, and the disagreeing
    (index, ours, theirs); datatrove's CPU seconds for all filters together under "datatrove_cpu_s"."""
    ops = pairs()
    t0 = time.process_time()
    theirs = datatrove_reasons({name: flt for name, (_, flt) in ops.items()}, texts)
    table: dict[str, dict] = {"datatrove_cpu_s": time.process_time() - t0}
    for name, (ours, _) in ops.items():
        t0 = time.process_time()
        a = ours_reasons(ours, texts)
        cpu = time.process_time() - t0
        b = theirs[name]
        diff = [(i, x, y) for i, (x, y) in enumerate(zip(a, b, strict=True)) if (x is None) != (y is None)]
        table[name] = {
            "docs": len(texts),
            "ours_dropped": sum(x is not None for x in a),
            "datatrove_dropped": sum(y is not None for y in b),
            "agree": 1 - len(diff) / len(texts),
            "ours_cpu_s": cpu,
            "diff": diff,
        }
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--show", type=int, default=3, help="disagreeing documents to print per filter")
    args = ap.parse_args()
    texts = visible_texts()
    print(f"{len(texts)} documents")
    print("| filter | ours drops | datatrove drops | agree | ours CPU s |")
    print("|---|---|---|---|---|")
    table = parity(texts)
    print(f"datatrove CPU s, all filters together: {table.pop('datatrove_cpu_s'):.2f}")
    for name, row in table.items():
        print(
            f"| {name} | {row['ours_dropped']} | {row['datatrove_dropped']} | {row['agree']:.2%} | "
            f"{row['ours_cpu_s']:.2f} |"
        )
    for name, row in table.items():
        kinds = Counter((x, y) for _, x, y in row["diff"])
        print(f"\n{name}: {len(row['diff'])} disagreements {dict(kinds)}")
        for i, x, y in row["diff"][: args.show]:
            print(f"  doc {i}: ours={x} datatrove={y} :: {texts[i][:160]!r}")


if __name__ == "__main__":
    main()
