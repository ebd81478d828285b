"""stats.json -> funnel table (text), PNG plot and an HTML page."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path


def load_stats(output: str | Path) -> dict:
    path = Path(output) / "stats.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: is {output} the output folder of a finished `curate run`?"
        )
    return json.loads(path.read_text())


def funnel_rows(stats: dict) -> list[dict]:
    """One row per step: rows in/out, kept %, drops, errors, seconds."""
    rows = []
    for s in stats["steps"]:
        dropped, errors = sum(s["dropped"].values()), sum(s["errors"].values())
        rows.append(
            {
                "step": s["step"],
                "in": s["in"],
                "out": s["out"],
                "dropped": dropped,
                "errors": errors,
                "kept_pct": 100.0 * s["out"] / s["in"] if s["in"] else 100.0,
                "seconds": s["seconds"],
            }
        )
    return rows


def _main(counts: dict[str, int], top: int, kind: str, prefix: str = "") -> list[tuple[str, int]]:
    """The `top` largest of `counts` (names after `prefix`), then one "+N more" line with the rows of the rest
    (`curate report` lists every one)."""
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    main = [(prefix + name, n) for name, n in ranked[:top]]
    rest = ranked[top:]
    if rest:
        main.append((f"+{len(rest)} more {kind}s (curate report)", sum(n for _, n in rest)))
    return main


def funnel_table(stats: dict, top_reasons: int = 3) -> str:
    """A plain-text funnel with the main drop/error reasons of each step; columns as wide as their longest entry."""
    rows = funnel_rows(stats)
    shown = [  # per step: its main reasons, then its main notes
        _main({**s["dropped"], **s["errors"]}, top_reasons, "reason")
        + _main(s.get("notes", {}), top_reasons, "note", prefix="note ")
        for s in stats["steps"]
    ]
    step_w = max([24] + [len(r["step"]) + 2 for r in rows])
    reason_w = max([40] + [len(reason) + 2 for lines in shown for reason, _ in lines])
    head = f"{'step':<{step_w}}{'in':>9}{'out':>9}{'kept':>8}{'dropped':>9}{'errors':>8}{'sec':>8}"
    lines = [head, "-" * len(head)]
    for row, main in zip(rows, shown, strict=True):
        lines.append(
            f"{row['step']:<{step_w}}{row['in']:>9}{row['out']:>9}{row['kept_pct']:>7.1f}%{row['dropped']:>9}"
            f"{row['errors']:>8}{row['seconds']:>8.2f}"
        )
        lines.extend(f"    {reason:<{reason_w}}{n:>8}" for reason, n in main)
    t = stats["totals"]
    lines.append("-" * len(head))
    lines.append(
        f"input records {t['input_records']} = output {t['output_rows']} + dropped {t['dropped']} + "
        f"errors {t['errors']}: {'holds' if t['identity_holds'] else 'VIOLATED'}"
    )
    return "\n".join(lines)


def funnel_plot(stats: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = funnel_rows(stats)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    names = [r["step"] for r in rows][::-1]
    ax.barh(names, [r["in"] for r in rows][::-1], color="#d9d9d9", label="in")
    ax.barh(names, [r["out"] for r in rows][::-1], color="#3a7ca5", label="out")
    ax.set_xlabel("rows")
    ax.set_title(f"{stats.get('recipe', '')}: rows kept per step")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _count_rows(stats: dict, counts: Callable[[dict], dict[str, int]]) -> str:
    """HTML table rows (step, key, rows) of each step's `counts`, largest first."""
    return "".join(
        f"<tr><td>{html.escape(s['step'])}</td><td>{html.escape(k)}</td><td>{v}</td></tr>"
        for s in stats["steps"]
        for k, v in sorted(counts(s).items(), key=lambda kv: -kv[1])
    )


def write_report(output: str | Path) -> dict[str, Path]:
    """Write `report.txt`, `funnel.png` and `report.html` into the output folder."""
    output = Path(output)
    stats = load_stats(output)
    from curation.balance.report import entry_html, entry_sections

    sections = entry_sections(output)
    text = "\n\n".join([funnel_table(stats, top_reasons=10), *(table for table, _ in sections)])
    txt = output / "report.txt"
    txt.write_text(text + "\n")
    png = funnel_plot(stats, output / "funnel.png")
    rows = "".join(
        f"<tr><td>{html.escape(r['step'])}</td><td>{r['in']}</td><td>{r['out']}</td><td>{r['kept_pct']:.1f}%</td>"
        f"<td>{r['dropped']}</td><td>{r['errors']}</td><td>{r['seconds']:.2f}</td></tr>"
        for r in funnel_rows(stats)
    )
    reasons = _count_rows(stats, lambda s: {**s["dropped"], **s["errors"]})
    notes = _count_rows(stats, lambda s: s.get("notes", {}))
    notes_table = (
        "<h2>Notes (decisions that are neither drops nor errors)</h2><table><tr><th>step</th><th>note</th>"
        f"<th>rows</th></tr>{notes}</table>"
        if notes
        else ""
    )
    page = (
        "<!doctype html><meta charset='utf-8'><title>mmcurate report</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 10px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style>"
        f"<h1>{html.escape(str(stats.get('recipe', '')))}</h1><img src='{png.name}'>"
        "<h2>Funnel</h2><table><tr><th>step</th><th>in</th><th>out</th><th>kept</th><th>dropped</th>"
        f"<th>errors</th><th>s</th></tr>{rows}</table>"
        f"<h2>Drop and error reasons</h2><table><tr><th>step</th><th>reason</th><th>rows</th></tr>{reasons}</table>"
        f"{notes_table}"
        f"<pre>{html.escape(funnel_table(stats).splitlines()[-1])}</pre>{entry_html(sections)}"
    )
    page_path = output / "report.html"
    page_path.write_text(page)
    return {
        "text": txt,
        "png": png,
        "html": page_path,
        **{f"entries_png{i}": p for i, (_, p) in enumerate(sections)},
    }
