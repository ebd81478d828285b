"""Run metrics: console lines, `metrics.jsonl` and TensorBoard event files (rank 0 only).

A resumed run first forgets what the interrupted run logged after its checkpoint (those steps are replayed):
metrics.jsonl is cut back to the checkpoint's step and TensorBoard is told to purge later events.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("training")
METRICS_NAME = "metrics.jsonl"


def truncate_metrics(path: Path, after_step: int) -> None:
    """Keep only the records of steps <= `after_step` (atomically)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= after_step]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    tmp.replace(path)


def console_line(record: dict) -> str:
    """`key=value` pairs; drop counters are shown only once they are non-zero."""
    shown = {k: v for k, v in record.items() if not (k.startswith("dropped_") and not v)}
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())


class MetricsWriter:
    """Writes one record per logged step; on other ranks every call is a no-op."""

    def __init__(self, out_dir: Path, enabled: bool, tensorboard: bool, after_step: int = 0) -> None:
        self.enabled = enabled
        self.path = out_dir / METRICS_NAME
        self.tb = None
        if not enabled:
            return
        truncate_metrics(self.path, after_step)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: readers discard the earlier events of steps >= it, i.e. the replayed ones
            self.tb = SummaryWriter(str(out_dir / "tensorboard"), purge_step=after_step + 1)

    def write(self, step: int, record: dict, prefix: str = "train", headline: str = "") -> None:
        if not self.enabled:
            return
        row = {"step": step, "split": prefix, **record}
        with open(self.path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for key, value in record.items():
                if isinstance(value, int | float):
                    self.tb.add_scalar(f"{prefix}/{key}", value, step)
            self.tb.flush()
        log.info("[%s] %s %s", prefix, headline or f"step {step}", console_line(record))

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_metrics(out_dir: str | Path, split: str = "train") -> dict[int, dict]:
    """The record per step of a run's metrics.jsonl; a step logged twice is an error."""
    records: dict[int, dict] = {}
    for line in (Path(out_dir) / METRICS_NAME).read_text().splitlines():
        row = json.loads(line)
        if row["split"] == split:
            if row["step"] in records:
                raise ValueError(f"{out_dir}: step {row['step']} ({split}) logged twice")
            records[row["step"]] = row
    return dict(sorted(records.items()))
