"""Train the `blocks` extraction engine's classifier: settings by CV on the tuning half, each half scored by a model
trained on the other, the shipped model trained on both.

Pages: warc/visible_pages.warc.gz with the gold of ../shared/data/extraction (AEB: MIT, Readability and
trafilatura eval: Apache-2.0), split by site as benchmarks/extraction_split.py does. Labels per block
(curation/ops/html_walk.py cuts the blocks): on gold-text pages a block is main text when over 70 % of its word
trigrams (whole token sequence for blocks under 3 tokens) occur in the gold, boilerplate under 30 %, unlabelled
in between; on trafilatura-eval pages a block holding (or held in) a `with` snippet is main text, one with a
`without` snippet is not, the rest are unlabelled.
Hyper-parameters are chosen by 4-fold cross-validation grouped by site over the tuning halves of the visible gold
and of this project's crawl gold (benchmarks/gold/, old crawl pages labelled line by line), scored as the mean
of the two gold sets' scores: the visible pages' as the benchmark scores them (mean of AEB/Readability macro token
F1 and the snippet share), the crawl pages' mean token F1. Stage 1 scores blocks
from their features; stage 2 rescores them from the out-of-fold stage-1 P in their page context
(block_features.context_features) next to the same features, its CV nested (inner folds by site inside each outer
training part). Stage 2 ships when its CV score beats stage 1 alone. Nothing is chosen on the reporting half.
`--cv-by-dataset` runs the same CV with one outer fold per gold dataset (a check of how the settings transfer to
a benchmark no model saw) and stops there.
With the settings fixed, the same recipe is trained three times (stage 2 on out-of-fold stage-1 P each time): on
the tuning half (scored on the reporting half), on the reporting half (scored on the tuning half), so both
halves get a held-out figure, and on both halves: that model is written to
curation/resources/html_blocks_model.json (more gold pages, and out-of-fold F1 grows with them: benchmarks/
RESULTS.md). The crawl gold's tuning half joins the training pages of all three; its reporting half stays out
of every model and every choice (`--no-crawl-gold`: the visible pages alone, CV and training).
Needs scikit-learn (training only; the engine runs on numpy).

    cd benchmarks && ../.venv/bin/python extraction_blocks.py [--limit N] [--no-write] [--halves DIR] [--cv-only]
        [--no-crawl-gold] [--cv-by-dataset]
"""

from __future__ import annotations

import argparse
import json
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
from common import REPO, pick_warc
from crawl_gold import training_pages
from extraction import Page, load_gold, prf, read_pages, snippet_score, token_prf, tokens
from extraction_split import part, site

from curation.ops.block_features import features, stage2_rows
from curation.ops.html import decode_html
from curation.ops.html_blocks import MODEL_RESOURCE, BlockModel, select
from curation.ops.html_walk import blocks, parse

MODEL_PATH = REPO / "curation" / "resources" / MODEL_RESOURCE


def _trigrams(toks: list[str]) -> set[tuple[str, ...]]:
    return set(zip(toks, toks[1:], toks[2:], strict=False))


# gold-text blocks whose trigram share in the gold lies in this range stay unlabelled (label noise: a block half
# in the gold is neither): +0.2 points of tuning-CV score for stage 1 alone, +0.3 with stage 2 (benchmarks/RESULTS.md)
AMBIGUOUS = (0.3, 0.7)


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
                share = sum(t in gold_tri for t in tri) / len(tri)
                if not AMBIGUOUS[0] <= share <= AMBIGUOUS[1]:
                    labels[i] = int(share > AMBIGUOUS[1])
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
                "blocks": page_blocks,
                "x": features(page_blocks) if texts else None,
                "y": labels,
                "w": weights,
            }
        )
    return rows


def crawl_tuning_table() -> tuple[list[dict], dict]:
    """The page table of the crawl gold's tuning half, and its gold (`crawl_gold.training_pages`)."""
    pages, gold = training_pages("tuning")
    return page_table(pages, gold), gold


def load_rows(gold: dict, cached: str | None = None, limit: int | None = None) -> list[dict]:
    """The page table of the visible gold pages, or the one pickled at `cached` (by --cache)."""
    if cached:
        with open(cached, "rb") as fh:
            return pickle.load(fh)
    return page_table([p for p in read_pages(pick_warc(False, None), limit) if p.record_id in gold], gold)


def page_score(text: str, gold: dict) -> float:
    """F1 on gold-text pages, share of snippets handled right on trafilatura-eval pages."""
    if "gold_text" in gold:
        return prf(*token_prf(text, gold["gold_text"]))[2]
    present, n_with, absent, n_without = snippet_score(
        text, gold.get("with") or [], gold.get("without") or []
    )
    return (present + absent) / max(1, n_with + n_without)


def summarise(scores: dict[str, list[float]]) -> dict[str, float]:
    """The benchmark's summary: F1 = mean of AEB and Readability macro F1; snippets; score, their mean. Where
    crawl gold pages are scored too, crawl_f1 is their mean F1 and score the mean of the two gold sets' scores."""
    f1 = float(np.mean([np.mean(scores[d]) for d in ("scrapinghub_aeb", "mozilla_readability") if scores[d]]))
    snippets = float(np.mean(scores["trafilatura_eval"])) if scores["trafilatura_eval"] else float("nan")
    summary = {"f1": f1, "snippets": snippets, "score": (f1 + snippets) / 2}
    if scores["crawl_gold"]:
        crawl_f1 = float(np.mean(scores["crawl_gold"]))
        summary.update(crawl_f1=crawl_f1, score=(summary["score"] + crawl_f1) / 2)
    return summary


def score_pages(rows: list[dict], probas: list[np.ndarray | None], gold: dict, threshold: float) -> dict:
    scores: dict[str, list[float]] = {
        "scrapinghub_aeb": [],
        "mozilla_readability": [],
        "trafilatura_eval": [],
        "crawl_gold": [],
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


def fit(rows: list[dict], params: dict, weighting: str, key: str = "x"):
    """A HistGradientBoostingClassifier on the labelled blocks of `rows`, features `r[key]`, blocks weighted by
    `weighting`: "page" (tokens, each page summing to the same), "dataset" (as "page", then each gold dataset
    summing to the same), "sqrt" (square root of tokens) or anything else (tokens)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    per_dataset = Counter(r["dataset"] for r in rows)
    xs, ys, ws = [], [], []
    for r in rows:
        if r[key] is None:
            continue
        m = r["y"] >= 0
        if not m.any():
            continue
        w = r["w"][m]
        if weighting in ("page", "dataset"):  # every page weighs the same, blocks by tokens inside it
            w = w / w.sum() * 100
        if weighting == "dataset":  # and every gold dataset weighs the same
            w = w * len(rows) / (len(per_dataset) * per_dataset[r["dataset"]])
        elif weighting == "sqrt":
            w = np.sqrt(w)
        xs.append(r[key][m])
        ys.append(r["y"][m])
        ws.append(w)
    model = HistGradientBoostingClassifier(random_state=0, early_stopping=False, **params)
    model.fit(np.vstack(xs), np.concatenate(ys), sample_weight=np.concatenate(ws))
    return model


def predict(model, rows: list[dict], key: str = "x") -> list[np.ndarray | None]:
    return [model.predict_proba(r[key])[:, 1] if r[key] is not None else None for r in rows]


def site_folds(rows: list[dict], folds: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of `folds` folds grouped by site."""
    from sklearn.model_selection import GroupKFold

    return list(GroupKFold(n_splits=folds).split(rows, groups=[r["site"] for r in rows]))


def dataset_folds(rows: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices, one fold per gold dataset: each dataset's pages tested on the others'."""
    datasets = np.array([r["dataset"] for r in rows])
    return [(np.flatnonzero(datasets != d), np.flatnonzero(datasets == d)) for d in sorted(set(datasets))]


def out_of_fold(rows: list[dict], params: dict, weighting: str) -> list[np.ndarray | None]:
    """Stage-1 P of every block, each page scored by a model trained on the other folds (by site)."""
    probas: list = [None] * len(rows)
    for train, test in site_folds(rows):
        model = fit([rows[i] for i in train], params, weighting)
        for i, pr in zip(test, predict(model, [rows[i] for i in test]), strict=True):
            probas[i] = pr
    return probas


def set_stage2_rows(rows: list[dict], probas: list[np.ndarray | None]) -> None:
    """r["x2"]: the stage-2 rows (context of the stage-1 P `probas`, then the stage-1 features)."""
    for r, pr in zip(rows, probas, strict=True):
        r["x2"] = None if pr is None else stage2_rows(pr, r["blocks"], r["x"])


def export_trees(model) -> dict:
    """The fitted HistGradientBoostingClassifier as flat per-tree arrays (curation.ops.tree_ensemble.TreeEnsemble)."""
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
        "baseline": float(np.ravel(model._baseline_prediction)[0]),
        "max_depth": depth,
        "n_features": int(model.n_features_in_),
        "trees": trees,
    }


CRAWL_SOURCE = (
    " and the tuning half of this project's crawl gold (benchmarks/gold: pages of Common Crawl, ClueWeb and "
    "Internet Archive samples redistributed under MIT / Apache-2.0)"
)


def export(stage1, stage2, threshold: float, trained_on: str, also: str = "") -> dict:
    """The model file (curation.ops.html_blocks.BlockModel); `stage2` None ships stage 1 alone. `trained_on`: the
    part of the visible gold; `also`: the other training pages, if any (`CRAWL_SOURCE`)."""
    return {
        "format": BlockModel.FORMAT,
        "trained_on": f"{trained_on} of the visible gold (split by site): scrapinghub AEB (MIT), Mozilla "
        f"Readability and trafilatura eval (Apache-2.0){also}; benchmarks/extraction_blocks.py",
        "threshold": threshold,
        "stage1": export_trees(stage1),
        "stage2": export_trees(stage2) if stage2 is not None else None,
    }


def train(
    rows: list[dict],
    threshold1: float,
    params2: dict | None,
    threshold2: float,
    trained_on: str,
    also: str = "",
) -> dict:
    """The model file of stage 1 (and stage 2 with `params2`, on out-of-fold stage-1 P) trained on `rows`."""
    stage1 = fit(rows, PARAMS1, WEIGHTING)
    if params2 is None:
        return export(stage1, None, threshold1, trained_on, also)
    set_stage2_rows(rows, out_of_fold(rows, PARAMS1, WEIGHTING))
    return export(stage1, fit(rows, params2, WEIGHTING, "x2"), threshold2, trained_on, also)


# stage 1: 150 trees of depth <= 5 won a first tuning-half CV against 100 x 6 and 80 x 8 (equal inference cost)
PARAMS1 = {
    "max_iter": 150,
    "max_depth": 5,
    "learning_rate": 0.1,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
}
# stage 2: small (stage 1: 750 tree steps per block); with the compiled tree scores (curation/ops/_tree_scores)
# 60 x 4 costs ~0.1 ms per page more than 20 x 4
GRID2 = (
    {"max_iter": 30, "max_depth": 3, "max_leaf_nodes": 8},
    {"max_iter": 20, "max_depth": 4, "max_leaf_nodes": 15},
    {"max_iter": 60, "max_depth": 4, "max_leaf_nodes": 15},
)
FIXED2 = {"learning_rate": 0.1, "min_samples_leaf": 20}
# blocks weighted by tokens, each page summing to the same: beat plain token weights in a first tuning-half CV
# (100 trees of 15 leaves: F1 .905 vs .909, snippets .916 vs .895); each gold dataset summing to the same on top
# (trafilatura eval's 456 tuning pages no longer outweigh the other three): tuning-half CV by site .882 -> .885,
# by dataset (a benchmark no model saw) .846 -> .870 (benchmarks/RESULTS.md)
WEIGHTING = "dataset"
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7)


def best_threshold(rows: list[dict], probas: list, gold: dict, label: str) -> tuple[float, float]:
    """(score, threshold) of the best threshold for `probas`, each printed."""
    results = []
    for t in THRESHOLDS:
        s = score_pages(rows, probas, gold, t)
        results.append((s["score"], t))
        crawl = f" crawl F1 {s['crawl_f1']:.4f}" if "crawl_f1" in s else ""
        print(f"cv {label} t={t}: F1 {s['f1']:.4f} snippets {s['snippets']:.4f}{crawl}", flush=True)
    return max(results)


def cross_validate(
    rows: list[dict], gold: dict, by_dataset: bool = False
) -> tuple[float, float, dict | None, float, float]:
    """Stage 1 alone and stage 2 over it, by 4-fold CV grouped by site (`by_dataset`: one fold per gold
    dataset): per outer fold, stage 1 is trained on the training folds and scores the test fold (stage 1 alone);
    stage 2 learns from out-of-fold stage-1 P of the training folds (inner folds by site) and rescores the test
    fold, as the shipped pair is trained. Returns (stage-1 score, its threshold, best stage-2 params, its
    threshold, its score)."""
    probas1: list = [None] * len(rows)
    probas2: dict[int, list] = {g: [None] * len(rows) for g in range(len(GRID2))}
    for train, test in dataset_folds(rows) if by_dataset else site_folds(rows):
        train_rows, test_rows = [rows[i] for i in train], [rows[i] for i in test]
        set_stage2_rows(train_rows, out_of_fold(train_rows, PARAMS1, WEIGHTING))
        outer = predict(fit(train_rows, PARAMS1, WEIGHTING), test_rows)
        set_stage2_rows(test_rows, outer)
        for g, shape in enumerate(GRID2):
            model = fit(train_rows, {**shape, **FIXED2}, WEIGHTING, "x2")
            for i, pr in zip(test, predict(model, test_rows, "x2"), strict=True):
                probas2[g][i] = pr
        for i, pr in zip(test, outer, strict=True):
            probas1[i] = pr
    score1, threshold1 = best_threshold(rows, probas1, gold, f"stage 1 {PARAMS1}")
    best: tuple = (-1.0, 0.0, None)
    for g, shape in enumerate(GRID2):
        params = {**shape, **FIXED2}
        score, t = best_threshold(rows, probas2[g], gold, f"stage 2 {params}")
        if score > best[0]:
            best = (score, t, params)
    return score1, threshold1, best[2], best[1], best[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--rows", help="read the page table from this pickle (written by --cache) instead")
    ap.add_argument("--cache", help="also pickle the page table (blocks, features, labels) here")
    ap.add_argument("--no-write", action="store_true", help="do not overwrite the shipped model")
    ap.add_argument("--halves", help="also write the models trained on each half alone to this folder")
    ap.add_argument(
        "--cv-only", action="store_true", help="stop after the tuning-half CV (no model, no half scored)"
    )
    ap.add_argument(
        "--no-crawl-gold", action="store_true", help="train on the visible pages alone (no crawl gold pages)"
    )
    ap.add_argument(
        "--cv-by-dataset",
        action="store_true",
        help="the tuning-half CV's outer folds by gold dataset, not by site (a check: stops after the CV)",
    )
    args = ap.parse_args()
    gold = load_gold()
    rows = load_rows(gold, args.rows, args.limit)
    if args.cache:
        with open(args.cache, "wb") as fh:
            pickle.dump(rows, fh)
    tuning = [r for r in rows if r["part"] == "tuning"]
    reporting = [r for r in rows if r["part"] == "reporting"]
    extra: list[dict] = []
    if not args.no_crawl_gold:
        extra, crawl_gold = crawl_tuning_table()
        gold = {**gold, **crawl_gold}
    print(f"tuning {len(tuning)} pages, reporting {len(reporting)}, crawl gold tuning half {len(extra)}")
    score1, threshold1, params2, threshold2, score2 = cross_validate(tuning + extra, gold, args.cv_by_dataset)
    print(
        f"chosen on tuning CV: stage 1 t={threshold1} (score {score1:.4f}); "
        f"stage 2 {params2} t={threshold2} (score {score2:.4f})"
    )
    if args.cv_only or args.cv_by_dataset:
        return
    if score2 <= score1:
        params2, threshold2 = None, threshold1
    halves = {"tuning": tuning, "reporting": reporting}
    also = CRAWL_SOURCE if extra else ""
    models = {
        name: train(part_rows + extra, threshold1, params2, threshold2, f"{name} half", also)
        for name, part_rows in halves.items()
    }
    models["all"] = train(rows + extra, threshold1, params2, threshold2, "both halves", also)
    for trained_on, scored_on in (
        ("tuning", "reporting"),
        ("reporting", "tuning"),
        ("tuning", "tuning"),
        ("all", "all"),
    ):
        model = BlockModel.from_json(models[trained_on])
        part_rows = rows if scored_on == "all" else halves[scored_on]
        probas = [model.proba(r["blocks"]) if r["blocks"] else None for r in part_rows]
        s = score_pages(part_rows, probas, gold, model.threshold)
        kind = "held out" if trained_on != scored_on else "in-sample"
        print(
            f"trained on {trained_on}, scored on {scored_on} ({kind}): F1 {s['f1']:.4f} snippets {s['snippets']:.4f} "
            f"empty {s['empty']}"
        )
    if args.halves:
        Path(args.halves).mkdir(parents=True, exist_ok=True)
        for name in halves:
            target = Path(args.halves) / f"html_blocks_model_{name}.json"
            target.write_text(json.dumps(models[name], separators=(",", ":")) + "\n")
            print("wrote", target)
    if not args.no_write:
        Path(MODEL_PATH).write_text(json.dumps(models["all"], separators=(",", ":")) + "\n")
        print("wrote", MODEL_PATH)


if __name__ == "__main__":
    main()
