"""What a reader saw: records read, skipped (by reason) and broken (by reason)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ReaderStats:
    records: int = 0
    skipped: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def error(self, reason: str) -> None:
        """A broken record or stream part; counts as an input record that produced no row."""
        self.records += 1
        self.errors[reason] += 1
