"""The entry distribution before and after MetaCLIP balancing, for `curate report`: head, tail and a plot."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from curation.balance.counts import load_counts
from curation.balance.entries import MetadataError, load_list
from curation.balance.stage import SUMMARY

HEAD = 10


def summaries(output: str | Path) -> list[Path]:
    """The balance summaries of a finished run (one per `metaclip_balance` step)."""
    return sorted(Path(output).glob(f"_work/*/intermediate/{SUMMARY}"))


def _names(summary: dict, name: str, file: str) -> list[str] | None:
    folder = Path(summary["metadata"])
    try:
        return list(load_list(folder / file if folder.is_dir() else folder).entries)
    except MetadataError:
        return None  # the metadata moved: entries are shown by id


def _distribution(summary_path: Path) -> tuple[dict, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """The summary, and per list: counts before, in kept rows, and of rows the entry's own draw selected."""
    summary = json.loads(summary_path.read_text())
    before_path = Path(summary["entry_counts"])
    before_raw = np.load(before_path)
    sizes = (
        {"": len(before_raw)}
        if isinstance(before_raw, np.ndarray)
        else {k: len(before_raw[k]) for k in before_raw.files}
    )
    before = load_counts(before_path, sizes)
    after = load_counts(summary_path.parent / summary["kept_entry_counts"], sizes)
    passed = load_counts(summary_path.parent / summary["passed_entry_counts"], sizes)
    return summary, {n: (before[n], after[n], passed[n]) for n in sizes}


def entry_table(summary_path: Path, head: int = HEAD) -> str:
    """Per list: entries matched, the most frequent entries before / after, and the tail of the distribution.

    `after` counts an entry in every kept row (a row kept by another entry counts too); `selected` counts the
    rows the entry's own draw kept, which balancing caps at about t.
    """
    summary, lists = _distribution(summary_path)
    lines = [
        f"MetaCLIP entry distribution (t = {summary['t']}; kept rows {summary['kept_rows']} of {summary['rows']})"
    ]
    for name, (before, after, passed) in lists.items():
        t = summary["t_per_list"][name]
        names = _names(summary, name, summary["lists"][name])
        label = f"list {name}" if name else "entries"
        matched = int((before > 0).sum())
        lines.append(
            f"  {label}: {len(before)} entries, {matched} matched; over t before {int((before > t).sum())}, "
            f"after {int((after > t).sum())}, selected {int((passed > t).sum())}; largest count before {int(before.max(initial=0))}, after {int(after.max(initial=0))}"
        )
        lines.append(f"    {'entry':<32}{'before':>10}{'after':>10}{'selected':>10}")
        for i in np.argsort(-before.astype(np.int64), kind="stable")[:head]:
            if before[i]:
                entry = names[i] if names else f"#{i}"
                lines.append(
                    f"    {entry[:31]:<32}{int(before[i]):>10}{int(after[i]):>10}{int(passed[i]):>10}"
                )
        tail = [(k, int((before == k).sum()), int((after == k).sum())) for k in (1, 2, 3)]
        lines.append(
            "    tail: "
            + "; ".join(f"{n_before} entries matched {k}x (after {n_after})" for k, n_before, n_after in tail)
        )
    return "\n".join(lines)


def entry_plot(summary_path: Path, path: Path) -> Path:
    """Rank-frequency plot (log-log) of entry counts before and after balancing, with t."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary, lists = _distribution(summary_path)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (before, after, passed) in lists.items():
        suffix = f" ({name})" if name else ""
        for counts, label in ((before, "before"), (after, "in kept rows"), (passed, "selected by the entry")):
            ranked = np.sort(counts[counts > 0])[::-1]
            if len(ranked):
                ax.loglog(np.arange(1, len(ranked) + 1), ranked, label=f"{label}{suffix}")
        ax.axhline(summary["t_per_list"][name], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("entry rank")
    ax.set_ylabel("rows matching the entry")
    ax.set_title(f"MetaCLIP entry counts, t = {summary['t']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def entry_sections(output: str | Path) -> list[tuple[str, Path]]:
    """(text table, plot) for every balance step of a run; the plots are written into the output folder."""
    out = []
    for i, summary_path in enumerate(summaries(output)):
        png = entry_plot(summary_path, Path(output) / f"metaclip_entries{'' if i == 0 else i}.png")
        out.append((entry_table(summary_path), png))
    return out


def entry_html(sections: list[tuple[str, Path]]) -> str:
    return "".join(
        f"<h2>MetaCLIP entries</h2><pre>{html.escape(text)}</pre><img src='{png.name}'>"
        for text, png in sections
    )
