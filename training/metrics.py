"""Run metrics: console lines, `metrics.jsonl` and TensorBoard event files (rank 0 only)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("training")


class MetricsWriter:
    """Writes one record per logged step; on other ranks every call is a no-op."""

    def __init__(self, out_dir: Path, enabled: bool, tensorboard: bool) -> None:
        self.enabled = enabled
        self.path = out_dir / "metrics.jsonl"
        self.tb = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out_dir / "tensorboard"))

    def write(self, step: int, record: dict, prefix: str = "train") -> None:
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
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())
        log.info("[%s] step %d %s", prefix, step, shown)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def read_metrics(out_dir: str | Path, split: str = "train") -> dict[int, dict]:
    """The last record per step of a run's metrics.jsonl (a resumed run rewrites steps after its checkpoint)."""
    records: dict[int, dict] = {}
    path = Path(out_dir) / "metrics.jsonl"
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row["split"] == split:
            records[row["step"]] = row
    return dict(sorted(records.items()))
