"""Train the `blocks` extraction engine's classifier on the tuning half of the visible gold; report both halves.

Pages: warc/visible_pages.warc.gz with the gold of ../shared/data/extraction (AEB: MIT, Readability and
trafilatura eval: Apache-2.0), split by site as benchmarks/extraction_split.py does. Labels per block
(curation/ops/html_blocks.py cuts the blocks): on gold-text pages a block is main text when >= half of its word
trigrams (whole token sequence for blocks under 3 tokens) occur in the gold; on trafilatura-eval pages a block
holding (or held in) a `with` snippet is main text, one with a `without` snippet is not, the rest are unlabelled.
Hyper-parameters are chosen by 5-fold cross-validation grouped by site inside the tuning half, scored as the
benchmark scores pages (mean of AEB/Readability macro token F1 and the snippet share); the chosen model is
trained on the whole tuning half and written to curation/resources/html_blocks_model.json. Needs scikit-learn
(training only; the engine runs on numpy).

    cd benchmarks && ../.venv/bin/python extraction_blocks.py [--limit N] [--no-write]
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
from pathlib import Path

import numpy as np
from common import REPO, pick_warc
from extraction import Page, load_gold, prf, read_pages, snippet_score, token_prf, tokens
from extraction_split import part, site

from curation.ops.html import decode_html
from curation.ops.html_blocks import MODEL_RESOURCE, blocks, features, parse, select

MODEL_PATH = REPO / "curation" / "resources" / MODEL_RESOURCE


def _trigrams(toks: list[str]) -> set[tuple[str, ...]]:
    return set(zip(toks, toks[1:], toks[2:], strict=False))


def block_labels(texts: list[str], gold: dict) -> tuple[np.ndarray, np.ndarray]:
    """(label, weight) per block: 1 main text, 0 boilerplate, -1 unlabelled; weight = the block's tokens."""
    labels = np.full(len(texts), -1, dtype=np.int64)
    weights = np.array([max(1, len(tokens(t))) for t in texts], dtype=np.float64)
    if "gold_text" in gold:
        gold_toks = tokens(gold["gold_text"])
        gold_tri = _trigrams(gold_toks)
        joined = " " + " ".join(gold_toks) + " "
        for i, text in enumerate(texts):
            toks = tokens(text)
            if len(toks) >= 3:
                tri = _trigrams(toks)
                labels[i] = int(sum(t in gold_tri for t in tri) >= 0.5 * len(tri))
            else:
                labels[i] = int(" " + " ".join(toks) + " " in joined)
        return labels, weights
    norm = lambda s: " ".join(s.split())  # noqa: E731
    with_ = [norm(s) for s in gold.get("with") or [] if s.strip()]
    without = [norm(s) for s in gold.get("without") or [] if s.strip()]
    for i, text in enumerate(texts):

        def hit(snips: list[str], text: str = text) -> bool:
            return any(s in text or (len(text) >= 20 and text in s) for s in snips)

        pos, neg = hit(with_), hit(without)
        if pos != neg:
            labels[i] = int(pos)
    return labels, weights


def page_table(pages: list[Page], gold: dict) -> list[dict]:
    """Per page: part, site, dataset, block texts, features, labels, weights."""
    rows = []
    for p in pages:
        html, _ = decode_html(p.payload, p.http_charset)
        root = parse(html)
        page_blocks = blocks(root) if root is not None else None
        texts = page_blocks.texts if page_blocks is not None else []
        labels, weights = block_labels(texts, gold[p.record_id])
        rows.append(
            {
                "id": p.record_id,
                "part": part(p),
                "site": site(p),
                "dataset": gold[p.record_id]["dataset"],
                "texts": texts,
                "x": features(page_blocks) if texts else None,
                "y": labels,
                "w": weights,
            }
        )
    return rows


def page_score(text: str, gold: dict) -> float:
    """F1 on gold-text pages, share of snippets handled right on trafilatura-eval pages."""
    if "gold_text" in gold:
        return prf(*token_prf(text, gold["gold_text"]))[2]
    present, n_with, absent, n_without = snippet_score(
        text, gold.get("with") or [], gold.get("without") or []
    )
    return (present + absent) / max(1, n_with + n_without)


def summarise(scores: dict[str, list[float]]) -> dict[str, float]:
    """The benchmark's summary: F1 = mean of AEB and Readability macro F1; snippets; their mean."""
    f1 = float(np.mean([np.mean(scores[d]) for d in ("scrapinghub_aeb", "mozilla_readability") if scores[d]]))
    snippets = float(np.mean(scores["trafilatura_eval"])) if scores["trafilatura_eval"] else float("nan")
    return {"f1": f1, "snippets": snippets, "score": (f1 + snippets) / 2}


def score_pages(rows: list[dict], probas: list[np.ndarray | None], gold: dict, threshold: float) -> dict:
    scores: dict[str, list[float]] = {
        "scrapinghub_aeb": [],
        "mozilla_readability": [],
        "trafilatura_eval": [],
    }
    empty = 0
    for r, pr in zip(rows, probas, strict=True):
        kept = (
            [t for t, k in zip(r["texts"], select(pr, threshold), strict=True) if k] if pr is not None else []
        )
        text = "\n".join(kept)
        empty += not text
        scores[r["dataset"]].append(page_score(text, gold[r["id"]]))
    return {**summarise(scores), "empty": empty}


def fit(rows: list[dict], params: dict, weighting: str):
    from sklearn.ensemble import HistGradientBoostingClassifier

    xs, ys, ws = [], [], []
    for r in rows:
        if r["x"] is None:
            continue
        m = r["y"] >= 0
        if not m.any():
            continue
        w = r["w"][m]
        if weighting == "page":  # every page weighs the same, blocks by tokens inside it
            w = w / w.sum() * 100
        elif weighting == "sqrt":
            w = np.sqrt(w)
        xs.append(r["x"][m])
        ys.append(r["y"][m])
        ws.append(w)
    model = HistGradientBoostingClassifier(random_state=0, early_stopping=False, **params)
    model.fit(np.vstack(xs), np.concatenate(ys), sample_weight=np.concatenate(ws))
    return model


def predict(model, rows: list[dict]) -> list[np.ndarray | None]:
    return [model.predict_proba(r["x"])[:, 1] if r["x"] is not None else None for r in rows]


def export(model, threshold: float) -> dict:
    """The fitted HistGradientBoostingClassifier as flat per-tree arrays (curation.ops.html_blocks.TreeEnsemble)."""
    trees = []
    depth = 0
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        depth = max(depth, int(nodes["depth"].max()))
        trees.append(
            {
                "feature": nodes["feature_idx"].astype(int).tolist(),
                "threshold": [float(v) for v in nodes["num_threshold"]],
                "left": nodes["left"].astype(int).tolist(),
                "right": nodes["right"].astype(int).tolist(),
                "leaf": nodes["is_leaf"].astype(bool).tolist(),
                "value": [float(v) for v in nodes["value"]],
            }
        )
    return {
        "format": "mmcurate html_blocks tree ensemble v1",
        "trained_on": "tuning half (by site) of the visible gold: scrapinghub AEB (MIT), Mozilla Readability and "
        "trafilatura eval (Apache-2.0); benchmarks/extraction_blocks.py",
        "baseline": float(np.ravel(model._baseline_prediction)[0]),
        "threshold": threshold,
        "max_depth": depth,
        "n_features": int(model.n_features_in_),
        "trees": trees,
    }


# (trees, depth) pairs of about the same inference cost (trees x depth steps per block); leaf-wise growth inside
GRID = (
    {"max_iter": 100, "max_depth": 6},
    {"max_iter": 150, "max_depth": 5},
    {"max_iter": 80, "max_depth": 8},
)
FIXED = {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20}
# blocks weighted by tokens, each page summing to the same: beat plain token weights in a first tuning-half CV
# (100 trees of 15 leaves: F1 .905 vs .909, snippets .916 vs .895)
WEIGHTINGS = ("page",)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def cross_validate(rows: list[dict], gold: dict, folds: int = 4) -> tuple[dict, str, float, list]:
    """The (params, weighting, threshold) with the best mean CV score, folds grouped by site."""
    from sklearn.model_selection import GroupKFold

    sites = [r["site"] for r in rows]
    splits = list(GroupKFold(n_splits=folds).split(rows, groups=sites))
    results = []
    for shape, weighting in itertools.product(GRID, WEIGHTINGS):
        params = {**shape, **FIXED}
        probas: list = [None] * len(rows)
        for train, test in splits:
            model = fit([rows[i] for i in train], params, weighting)
            for i, pr in zip(test, predict(model, [rows[i] for i in test]), strict=True):
                probas[i] = pr
        for t in THRESHOLDS:
            s = score_pages(rows, probas, gold, t)
            results.append((s["score"], params, weighting, t, s))
            print(f"cv {params} {weighting} t={t}: F1 {s['f1']:.4f} snippets {s['snippets']:.4f}", flush=True)
    best = max(results, key=lambda r: r[0])
    return best[1], best[2], best[3], results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--rows", help="read the page table from this pickle (written by --cache) instead")
    ap.add_argument("--cache", help="also pickle the page table (blocks, features, labels) here")
    ap.add_argument("--no-write", action="store_true", help="do not overwrite the shipped model")
    args = ap.parse_args()
    gold = load_gold()
    pages = [p for p in read_pages(pick_warc(False, None), args.limit) if p.record_id in gold]
    if args.rows:
        with open(args.rows, "rb") as fh:
            rows = pickle.load(fh)
    else:
        rows = page_table(pages, gold)
    if args.cache:
        with open(args.cache, "wb") as fh:
            pickle.dump(rows, fh)
    tuning = [r for r in rows if r["part"] == "tuning"]
    reporting = [r for r in rows if r["part"] == "reporting"]
    print(f"tuning {len(tuning)} pages, reporting {len(reporting)}")
    params, weighting, threshold, _ = cross_validate(tuning, gold)
    print("chosen on tuning CV:", params, weighting, threshold)
    model = fit(tuning, params, weighting)
    for name, part_rows in (("tuning (in-sample)", tuning), ("reporting", reporting)):
        s = score_pages(part_rows, predict(model, part_rows), gold, threshold)
        print(f"{name}: F1 {s['f1']:.4f} snippets {s['snippets']:.4f} empty {s['empty']}")
    if not args.no_write:
        Path(MODEL_PATH).write_text(json.dumps(export(model, threshold), separators=(",", ":")) + "\n")
        print("wrote", MODEL_PATH)


if __name__ == "__main__":
    main()
