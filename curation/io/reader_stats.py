"""What a reader saw: records read, skipped (by reason) and broken (by reason), and, when the run keeps rejects,
one reject row per skipped or broken record that says where it was."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from curation.rows import REJECT_REASON

READ_STEP = "read"
# Where a reader reject came from: the input file, the byte offset (WARC, ARC) or record index (line, row, tar
# sample) in it, and the record's id, URL and WARC-Type where the reader knows them.
READER_REJECT = pa.schema(
    [
        ("source_path", pa.string()),
        ("source_offset", pa.int64()),
        ("id", pa.string()),
        ("url", pa.string()),
        ("record_type", pa.string()),
        (REJECT_REASON, pa.string()),
    ]
)


@dataclass
class ReaderStats:
    records: int = 0
    skipped: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    path: str = ""  # the file being read: every reject row names it
    rejects: list[dict] | None = None  # reject rows, when the run keeps rejects

    def skip(self, reason: str, count: int = 1, **where: object) -> None:
        """`count` records (already counted as read) that the reader leaves out on purpose."""
        self.skipped[reason] += count
        self._reject(reason, count, where)

    def error(self, reason: str, count: int = 1, **where: object) -> None:
        """A broken record or stream part; counts as an input record that produced no row."""
        self.records += count
        self.fail(reason, count, **where)

    def fail(self, reason: str, count: int = 1, **where: object) -> None:
        """`count` records already counted as read that produced no row."""
        self.errors[reason] += count
        self._reject(reason, count, where)

    def _reject(self, reason: str, count: int, where: dict) -> None:
        if self.rejects is not None:
            row = {"source_path": self.path, **where, REJECT_REASON: f"{READ_STEP}:{reason}"}
            self.rejects.extend([row] * count)

    def rejects_table(self) -> pa.Table | None:
        """The reject rows so far (None when there are none or rejects are not kept)."""
        if not self.rejects:
            return None
        return pa.Table.from_pylist(self.rejects, schema=READER_REJECT)
