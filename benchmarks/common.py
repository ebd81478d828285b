"""Helpers shared by the benchmarks: data paths and the `cc_text` corpus, the machine's load, markdown tables,
JSON results and a paired bootstrap interval that resamples sites."""

from __future__ import annotations

import gzip
import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MMCURATE_SHARED_DATA", REPO.parent / "shared" / "data"))
FULL_WARC = SHARED_DATA / "warc" / "visible_pages.warc.gz"
DEMO_WARC = REPO / "data" / "warc" / "demo.warc.gz"
EXTRACTION_GOLD = SHARED_DATA / "extraction"
DRAWS = 2000  # bootstrap resamples


def cc_texts(shared: Path = SHARED_DATA) -> list[str]:
    """The texts of `cc_text/` (dolma's Common Crawl samples), file by file in name order."""
    texts = []
    for path in sorted((shared / "cc_text").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh]
    return texts


def pick_warc(quick: bool, warc: str | None = None) -> Path:
    """The WARC to benchmark: `warc` if given, the bundled demo with `quick`, else the 1,307-page shared WARC.

    Exits with a clear `skip:` message when the file is absent (../shared/data is not on every machine).
    """
    path = Path(warc) if warc else (DEMO_WARC if quick else FULL_WARC)
    if not path.exists():
        raise SystemExit(f"skip: {path} not found (../shared/data is not present on this machine)")
    return path


def machine() -> dict[str, Any]:
    """Cores, memory, Python and the load averages right now (other jobs may share the machine)."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return info


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence (the figure reported for repeated measurements)."""
    return float(statistics.median(values))


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats are printed with 3 significant decimals."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write `payload` as indented JSON (parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return path


def command_line(script: str, argv: Sequence[str] | None) -> str:
    """How this benchmark was invoked, for its result file: `python benchmarks/<script> ARGS`."""
    return f"python benchmarks/{script} " + " ".join(argv if argv is not None else sys.argv[1:])


def save_results(path: str | Path, payload: dict[str, Any]) -> dict[str, Any]:
    """Write the result file, say where, and return `payload`."""
    print(f"\nJSON: {write_json(path, payload)}")
    return payload


def paired_interval(scores: np.ndarray, reference: np.ndarray, sites: list[str]) -> tuple[float, float]:
    """2.5 and 97.5 percentiles of the page mean difference `scores - reference`, sites resampled with their
    pages on both sides (`DRAWS` draws, seed 0)."""
    groups = [np.flatnonzero(np.array(sites) == s) for s in sorted(set(sites))]
    diff = scores - reference
    sums, counts = np.array([diff[g].sum() for g in groups]), np.array([len(g) for g in groups])
    draws = np.random.default_rng(0).integers(0, len(groups), (DRAWS, len(groups)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
