"""What a Stage gets from the runner besides its dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StageContext:
    """`work_dir` is the stage's own folder for intermediates (sub-phase outputs with completion markers).

    `rows` is the number of input rows (known from the previous phase, so stages need not count).
    `input_files` are the parquet files `ds` was read from, in `_order` order (for task-based stages).
    """

    work_dir: Path
    seed: int
    num_workers: int
    resume: bool
    rows: int = 0
    input_files: tuple[str, ...] = ()
