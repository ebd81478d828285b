"""What more training pages do for the `blocks` engine: site-grouped K-fold CV over both halves of the visible gold.

The half models of extraction_blocks.py each learn from one half (580 or 684 pages) and score the other; the
shipped model learns from both (1,264). This script trains the same recipe on K-1 of K folds of all pages, the
folds grouped by site (a hash of the site with a salt; several salts, as one assignment of sites to folds moves
the figures by about a point), so each page is scored by a model that learned from ~(K-1)/K of all pages and not
from its own site. Nothing is chosen here: stage 1's settings, stage 2's shape and the threshold are those
extraction_blocks.py chose (the shipped model's), and every model also learns from the crawl gold's tuning half,
as the shipped one does (`--no-crawl-gold`: the visible pages alone). Each page is scored through the op
(`html_extract` `engine: blocks` with the fold's model, its fallback to `resiliparse` included) and through the
model's selection alone; per half, and pooled over both halves with a paired bootstrap against plain trafilatura
as extraction_paired.py computes it (gold-text pages, resampled within dataset and half).

    cd benchmarks && OMP_NUM_THREADS=2 ../.venv/bin/python extraction_blocks_allcv.py [--folds 4] [--salts a,b,c]
        [--no-crawl-gold]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import xxhash
from common import pick_warc
from extraction import load_gold, prf, read_pages, token_prf
from extraction_blocks import FIXED2, GRID2, crawl_tuning_table, load_rows, train
from extraction_paired import DATASETS, Groups, bootstrap_draws, paired_difference, summary
from extraction_split import PARTS, trafilatura_with

from curation.ops.html import HtmlExtract
from curation.ops.html_blocks import BlockModel, select, shipped_model


def shipped_recipe() -> tuple[dict, float]:
    """(stage-2 params, threshold) of the shipped model: the GRID2 shape with its tree count and depth."""
    model = shipped_model()
    shape = (model.stage2.feature.shape[0], model.stage2.max_depth)
    params = next(g for g in GRID2 if (g["max_iter"], g["max_depth"]) == shape)
    return {**params, **FIXED2}, model.threshold


def fold_of(site: str, salt: str, folds: int) -> int:
    return xxhash.xxh64_intdigest(salt + site) % folds


def cross_fitted_texts(
    rows: list[dict], pages: dict, fold: np.ndarray, label: str, work: Path, extra: list[dict]
) -> dict[str, dict]:
    """Per page id: the text of the op (`op`) and of the model's selection alone (`model`), each page by the
    shipped recipe trained on the rows of the other folds (`fold`: one fold number per row) and on `extra`."""
    params2, threshold = shipped_recipe()
    folds = int(fold.max()) + 1
    texts: dict[str, dict] = {}
    for k in range(folds):
        training = [r for r, f in zip(rows, fold, strict=True) if f != k] + extra
        payload = train(training, threshold, params2, threshold, f"fold {k} of {folds} ({label})")
        path = work / f"model_{label.replace(' ', '_')}_{k}.json"  # load_model caches by path
        path.write_text(json.dumps(payload))
        model = BlockModel.from_json(payload)
        op = HtmlExtract(engine="blocks", blocks_model=str(path))
        for r, f in zip(rows, fold, strict=True):
            if f != k:
                continue
            p = pages[r["id"]]
            keep = select(model.proba(r["blocks"]), model.threshold) if r["blocks"] else []
            texts[r["id"]] = {
                "op": op._one(p.payload, p.content_type, p.http_charset)[0] or "",
                "model": "\n".join(t for t, kept in zip(r["texts"], keep, strict=True) if kept),
            }
        print(f"{label}: fold {k} scored", flush=True)
    return texts


def f1_groups(rows: list[dict], gold: dict, text_of) -> Groups:
    """Per (dataset, half): the F1 of each gold-text page's text."""
    out: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        g = gold[r["id"]]
        if "gold_text" in g:
            out.setdefault((g["dataset"], r["part"]), []).append(
                prf(*token_prf(text_of(r), g["gold_text"]))[2]
            )
    return {k: np.array(v) for k, v in out.items()}


def half(scores: Groups, name: str) -> float:
    return float(np.mean([scores[(d, name)].mean() for d in DATASETS]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--salts", default="a,b,c", help="one site-to-fold assignment per salt")
    ap.add_argument("--no-crawl-gold", action="store_true", help="train on the visible pages alone")
    args = ap.parse_args()
    extra = [] if args.no_crawl_gold else crawl_tuning_table()[0]
    gold = load_gold()
    pages = {p.record_id: p for p in read_pages(pick_warc(False, None)) if p.record_id in gold}
    rows = load_rows(gold)
    traf = trafilatura_with()
    reference = f1_groups(rows, gold, lambda r: traf(pages[r["id"]]))
    draws = bootstrap_draws(reference)
    print({f"{d}/{h}": len(v) for (d, h), v in reference.items()}, "gold-text pages")
    print("| engine | salt | tuning half | reporting half | both | minus trafilatura | 95 % interval |")
    print("|---|---|---|---|---|---|---|")
    line = "| {} | {} | {:.3f} | {:.3f} | {:.3f} | {:+.1f} points | {:+.1f} to {:+.1f} |"
    print(
        line.format(
            "plain trafilatura", "", *(half(reference, h) for h in PARTS), summary(reference), 0, 0, 0
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        for salt in args.salts.split(","):
            fold = np.array([fold_of(r["site"], salt, args.folds) for r in rows])
            texts = cross_fitted_texts(rows, pages, fold, f"salt {salt}", Path(tmp), extra)
            for kind in ("op", "model"):
                scores = f1_groups(rows, gold, lambda r, kind=kind, texts=texts: texts[r["id"]][kind])
                diff, lo, hi = paired_difference(scores, reference, draws)
                name = "`blocks` (op, fallback included)" if kind == "op" else "`blocks` model alone"
                print(
                    line.format(
                        name,
                        salt,
                        *(half(scores, h) for h in PARTS),
                        summary(scores),
                        100 * diff,
                        100 * lo,
                        100 * hi,
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
