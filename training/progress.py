"""What a person watching a run sees: step of total, %, epoch, elapsed and ETA on each logged line, and a summary
at the end (also written as `summary.json`)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

SUMMARY_NAME = "summary.json"


def hms(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def total_steps(max_steps: int | None, epochs: float | None, rows: int, items_per_step: int) -> int:
    """Steps of the run: `max_steps`, or `epochs` passes over `rows` items, whichever is fewer."""
    by_epochs = math.ceil(epochs * rows / items_per_step) if epochs is not None else None
    candidates = [s for s in (max_steps, by_epochs) if s is not None]
    return max(min(candidates), 1)


class Progress:
    """Timing of the steps run by this process (a resumed run's ETA and throughput count only its own steps)."""

    def __init__(
        self, start_step: int, total: int, rows: int, items_per_step: int, start_tokens: float = 0.0
    ) -> None:
        self.start_step = start_step
        self.start_tokens = start_tokens
        self.total = total
        self.rows = rows
        self.items_per_step = items_per_step
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def epoch(self, step: int) -> float:
        return step * self.items_per_step / self.rows

    def tokens_per_s(self, step: int, tokens: float) -> float | None:
        """Throughput of this process's steps, given the run's step and token total; None when it ran no step."""
        if step <= self.start_step:
            return None
        return (tokens - self.start_tokens) / max(self.elapsed(), 1e-9)

    def line(self, step: int) -> str:
        done = step - self.start_step
        eta = self.elapsed() / done * (self.total - step) if done else 0.0
        return (
            f"step {step}/{self.total} ({100 * step / self.total:.1f}%) epoch {self.epoch(step):.2f} "
            f"elapsed {hms(self.elapsed())} eta {hms(eta)}"
        )


def _headline(summary: dict) -> str:
    """What the run did, and for a resumed run what this process did (`steps_run` in `seconds`) apart from the
    run's totals (`steps`, epochs, samples, tokens)."""
    rate = summary["tokens_per_s"]
    run = f"{summary['epochs']:.2f} epochs, {summary['samples']:,} samples, {summary['tokens']:,} tokens"
    ran = summary.get("steps_run", summary["steps"])
    if ran == summary["steps"]:
        return f"finished {ran} steps in {hms(summary['seconds'])} ({run}, {rate:.1f} tokens/s)"
    did = f"{rate:.1f} tokens/s" if ran else "no step left to run"
    return (
        f"resumed at step {summary['steps'] - ran}: ran {ran} steps in {hms(summary['seconds'])} ({did}); "
        f"the run: {summary['steps']} steps, {run}"
    )


def write_summary(out_dir: Path, summary: dict) -> str:
    """Write `summary.json` and return the human-readable end-of-run lines."""
    (out_dir / SUMMARY_NAME).write_text(json.dumps(summary, indent=2))
    drops = {k: v for k, v in summary["dropped"].items() if v}
    lines = [
        _headline(summary),
        "final " + " ".join(f"{k}={v:.4g}" for k, v in summary["final"].items()),
        f"dropped samples: {drops if drops else 'none'}",
        f"hand-off: {summary['handoff']}",
    ]
    return "\n".join(lines)
