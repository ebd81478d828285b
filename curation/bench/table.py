"""The ranked table of a benchmark: markdown, JSON and a bar plot, from the per-run results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _stats(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def rank(results: list[dict], failures: dict[str, str], tasks: list[str]) -> dict[str, Any]:
    """Aggregate runs per strategy (mean and sample std over seeds) and rank by the mean of the task scores."""
    by_strategy: dict[str, list[dict]] = {}
    for r in results:
        by_strategy.setdefault(r["strategy"], []).append(r)
    rows = []
    for name, runs in by_strategy.items():
        runs = sorted(runs, key=lambda r: r["seed"])
        row = {
            "strategy": name,
            "seeds": [r["seed"] for r in runs],
            "subset_size": int(np.mean([r["subset_size"] for r in runs])),
            "samples_seen": sorted({r["samples_seen"] for r in runs}),
            "wall_s": float(sum(r["train_s"] + r["eval_s"] for r in runs)),
            "train_cpu_s": float(sum(r.get("train_cpu_s", 0.0) for r in runs)),
            "tasks": {},
        }
        for t in tasks:
            scores = [r["scores"][t] for r in runs if t in r["scores"]]
            if scores:
                row["tasks"][t] = dict(zip(("mean", "std"), _stats(scores), strict=True))
        row["mean"], row["std"] = _stats([r["mean"] for r in runs])
        rows.append(row)
    rows.sort(key=lambda r: (-r["mean"], r["strategy"]))
    for i, row in enumerate(rows, 1):
        row["rank"] = i
    seen = sorted({s for r in rows for s in r["samples_seen"]})
    return {"rows": rows, "failed": failures, "tasks": tasks, "samples_seen_equal": len(seen) <= 1}


def markdown(table: dict[str, Any], skipped: dict[str, str]) -> str:
    tasks = [t for t in table["tasks"] if t not in skipped]
    head = [
        "rank",
        "strategy",
        "subset size",
        "samples seen",
        *tasks,
        "mean",
        "seeds",
        "wall s",
        "train CPU s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table["rows"]:
        cells = [
            str(r["rank"]),
            r["strategy"],
            f"{r['subset_size']:,}",
            ", ".join(f"{s:,}" for s in r["samples_seen"]),
        ]
        for t in tasks:
            m = r["tasks"].get(t)
            cells.append(f"{100 * m['mean']:.2f} ± {100 * m['std']:.2f}" if m else "-")
        cells += [f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f}", str(len(r["seeds"])), f"{r['wall_s']:.0f}"]
        cells.append(f"{r['train_cpu_s']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["", "Scores are % (accuracy for zero-shot, mean recall@1 for retrieval): mean ± std over seeds."]
    if not table["samples_seen_equal"]:
        notes.append("WARNING: strategies did not all train on the same number of samples seen.")
    notes += [f"- strategy {k} failed: {v}" for k, v in sorted(table["failed"].items())]
    notes += [f"- task {k} skipped: {v}" for k, v in sorted(skipped.items())]
    return "\n".join(lines + notes) + "\n"


def plot(table: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table["rows"]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(rows)), 3.5))
    ax.bar(
        [r["strategy"] for r in rows],
        [100 * r["mean"] for r in rows],
        yerr=[100 * r["std"] for r in rows],
        capsize=4,
        color="#4c72b0",
    )
    ax.set_ylabel("mean task score (%)")
    ax.set_title("strategies at equal samples seen")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(table: dict[str, Any], skipped: dict[str, str], out: Path) -> dict[str, Path]:
    paths = {"markdown": out / "table.md", "json": out / "table.json", "plot": out / "table.png"}
    paths["markdown"].write_text(markdown(table, skipped))
    paths["json"].write_text(json.dumps({**table, "skipped_tasks": skipped}, indent=1, sort_keys=True))
    plot(table, paths["plot"])
    return paths
