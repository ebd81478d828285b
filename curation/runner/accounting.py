"""Per-step counters and the accounting identity: in = out + dropped + errors, for every step and the run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise


@dataclass
class StepStats:
    """Rows in and out of one step, rows dropped and rows errored by reason, rows the step noted (a decision
    that is neither a drop nor an error, e.g. a fallback taken) by note, and time spent."""

    step: str
    kind: str
    rows_in: int = 0
    rows_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def merge(self, other: StepStats) -> None:
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.dropped.update(other.dropped)
        self.errors.update(other.errors)
        self.notes.update(other.notes)
        self.seconds += other.seconds

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.rows_out + sum(self.dropped.values()) + sum(self.errors.values())

    def to_dict(self) -> dict:
        return {
            "step": self.step,
            "kind": self.kind,
            "in": self.rows_in,
            "out": self.rows_out,
            "dropped": dict(sorted(self.dropped.items())),
            "errors": dict(sorted(self.errors.items())),
            "notes": dict(sorted(self.notes.items())),
            "seconds": round(self.seconds, 4),
        }

    @classmethod
    def from_dict(cls, d: dict) -> StepStats:
        return cls(
            step=d["step"],
            kind=d["kind"],
            rows_in=d["in"],
            rows_out=d["out"],
            dropped=Counter(d["dropped"]),
            errors=Counter(d["errors"]),
            notes=Counter(d.get("notes", {})),  # summaries written before notes were counted have none
            seconds=d["seconds"],
        )


def run_totals(steps: list[StepStats]) -> dict:
    """Run-level totals and identity checks over the ordered steps."""
    dropped = sum(sum(s.dropped.values()) for s in steps)
    errors = sum(sum(s.errors.values()) for s in steps)
    input_records = steps[0].rows_in if steps else 0
    output_rows = steps[-1].rows_out if steps else 0
    chained = all(a.rows_out == b.rows_in for a, b in pairwise(steps))
    return {
        "input_records": input_records,
        "output_rows": output_rows,
        "dropped": dropped,
        "errors": errors,
        "every_step_balanced": all(s.balanced for s in steps),
        "steps_chain": chained,
        "identity_holds": input_records == output_rows + dropped + errors and chained,
    }


def all_errors(steps: list[dict]) -> list[dict]:
    """The steps (as `stats.json` writes them) that got rows and errored on every one of them: a run that ends
    this way did not do what its recipe asks, however cleanly it finished."""
    return [s for s in steps if s["in"] and sum(s["errors"].values()) == s["in"]]
