"""The row contract: internal columns, how a marked table splits into kept rows and rejects, and the Arrow schemas.

Every package that touches rows imports its column names and schemas from here (design sections 3 and 5).

- Internal columns: `ORDER` (`_order`, a row's position in the input: the reader assigns it, stages keep it, the
  final shards drop it), `DROP` (`_drop`: null = keep, else the rule that failed), `ERROR` (`_error`: null = fine,
  else what went wrong with that row), `NOTE` (`_note`: null, else a decision of the op about that row that is
  neither a drop nor an error, such as which fallback it took; counted, not part of the accounting identity) and
  `REJECT_REASON` (`reject_reason` of a row written to `rejects/`).
- `split_marks`: the one function that turns `_drop` / `_error` / `_note` marks into kept rows, rejects and counts;
  segments and stages both use it.
- Schemas: what the readers emit (`WARC_RECORD`, `JSONL_DOCUMENT`, `WDS_PAIR`) and the data contracts that curation
  writes and training reads (`DOCUMENT`, `PAIR`, `INTERLEAVED`, `CONVERSATION`, `PREFERENCE`). A contract lists the
  required columns; ops may add score columns after them.

Imports nothing of curation: everything else builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

ORDER = "_order"
DROP = "_drop"
ERROR = "_error"
NOTE = "_note"
REJECT_REASON = "reject_reason"
MARKS = (DROP, ERROR, NOTE)  # the columns an op marks rows with; `split_marks` removes them


def set_column(batch: pa.Table, name: str, values: Any) -> pa.Table:
    """Add `name`, or replace it where it already exists."""
    idx = batch.schema.get_field_index(name)
    if idx >= 0:
        return batch.set_column(idx, name, values)
    return batch.append_column(name, values)


def add_marks(batch: pa.Table, name: str, values: list[str | None] | pa.Array) -> pa.Table:
    """Set mark column `name` (`_drop`, `_error`, `_note`) to `values` on the rows an earlier mark left null."""
    new = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    if name in batch.column_names:
        new = pc.coalesce(batch.column(name).combine_chunks().cast(pa.string()), new)
    return set_column(batch, name, new)


def with_drop(batch: pa.Table, reasons: list[str | None] | pa.Array) -> pa.Table:
    """Attach the `_drop` column (null = keep)."""
    col = reasons if isinstance(reasons, pa.Array) else pa.array(reasons, type=pa.string())
    return set_column(batch, DROP, col)


@dataclass
class Split:
    """A marked table split: the kept rows (marks removed), the rejected rows with their `reject_reason` (when
    asked for), per `<step>:<reason>` the number of rows dropped and errored, and per `<step>:<note>` the number
    of rows (kept or not) the op noted."""

    kept: pa.Table
    rejects: pa.Table | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)


def _counts(column: pa.ChunkedArray, mask: pa.ChunkedArray | pa.Array, step: str) -> dict[str, int]:
    values = pc.filter(column, mask)
    if len(values) == 0:
        return {}
    counts = pc.value_counts(values)
    return {
        f"{step}:{v.as_py()}": c.as_py()
        for v, c in zip(counts.field("values"), counts.field("counts"), strict=True)
    }


def split_marks(marked: pa.Table, step: str, *, drops: bool = True, rejects: bool = False) -> Split:
    """Split `marked` by its `_error` and `_drop` columns (either may be absent) and count its `_note`s.

    A row with an `_error` is an error (whatever its `_drop`); otherwise a row with a `_drop` is dropped, unless
    `drops` is false (a `tag_only` op: its drop marks are only scores). Reasons and notes are counted as
    `<step>:<reason>`; with `rejects` the rejected rows come back with `reject_reason` = `<step>:<reason>`.
    """
    names = marked.column_names
    n = marked.num_rows
    none = pa.array([False] * n, pa.bool_())
    error_col = marked.column(ERROR).cast(pa.string()) if ERROR in names else None
    drop_col = marked.column(DROP).cast(pa.string()) if DROP in names and drops else None
    has_error = pc.is_valid(error_col) if error_col is not None else none
    has_drop = pc.and_(pc.is_valid(drop_col), pc.invert(has_error)) if drop_col is not None else none
    keep = pc.invert(pc.or_(has_error, has_drop))
    out = Split(kept=marked)
    if error_col is not None:
        out.errors = _counts(error_col, has_error, step)
    if drop_col is not None:
        out.dropped = _counts(drop_col, has_drop, step)
    if NOTE in names:
        note_col = marked.column(NOTE).cast(pa.string())
        out.notes = _counts(note_col, pc.is_valid(note_col), step)
    internal = [c for c in MARKS if c in names]
    all_kept = pc.all(keep).as_py() is not False  # true for an empty table too
    if rejects and not all_kept:
        rejected = pc.invert(keep)
        reason = pc.coalesce(*[c for c in (error_col, drop_col) if c is not None])
        rows = marked.filter(rejected).drop_columns(internal)
        out.rejects = rows.append_column(
            REJECT_REASON, pc.binary_join_element_wise(step, pc.filter(reason, rejected), ":")
        )
    out.kept = (marked if all_kept else marked.filter(keep)).drop_columns(internal)  # no copy when none leave
    return out


# What the readers emit (before any op). WARC/WET/ARC records: the HTTP payload, decoded by `html_extract`.
WARC_RECORD = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("warc_date", pa.string()),
        ("source", pa.string()),
        ("content_type", pa.string()),
        ("http_charset", pa.string()),
        ("payload", pa.binary()),
    ]
)
# JSONL(.gz) documents, dolma / RedPajama style.
JSONL_DOCUMENT = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("text", pa.string()),
        ("source", pa.string()),
        ("metadata", pa.string()),  # everything else, as JSON
    ]
)
# WebDataset samples (`key.jpg` + `key.txt`/`key.json`).
WDS_PAIR = pa.schema(
    [
        ("uid", pa.string()),
        ("url", pa.string()),
        ("caption", pa.string()),
        ("image", pa.binary()),
        ("source", pa.string()),
        ("metadata", pa.string()),
    ]
)

# The data contracts (design section 5): curation writes these, training reads them.
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])

DOCUMENT = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("text", pa.string()),
        ("lang", pa.string()),
        ("lang_score", pa.float32()),
        ("source", pa.string()),
        ("warc_date", pa.string()),
    ]
)

PAIR = pa.schema(
    [
        ("uid", pa.string()),
        ("url", pa.string()),
        ("caption", pa.string()),
        ("image", pa.binary()),
        ("width", pa.int32()),
        ("height", pa.int32()),
    ]
)

INTERLEAVED_IMAGE = pa.struct(
    [
        ("bytes", pa.binary()),
        ("url", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        (
            "text_index",
            pa.int32(),
        ),  # the image goes before texts[text_index]; len(texts) = after the last text
        ("similarity", pa.float32()),
        ("alt", pa.string()),
    ]
)

INTERLEAVED = pa.schema(
    [
        ("doc_id", pa.string()),
        ("url", pa.string()),
        ("texts", pa.list_(pa.string())),
        ("images", pa.list_(INTERLEAVED_IMAGE)),
    ]
)

DROPPED_IMAGE = pa.struct([("url", pa.string()), ("reason", pa.string())])
SIMILARITY_MATRIX = "similarity_matrix"
# what the interleaved readers give: the contract plus `source`, the images ops removed (`dropped_images`, with
# their reasons) and an optional images x texts similarity matrix (MMC4)
INTERLEAVED_ROW = pa.schema(
    [
        *INTERLEAVED,
        ("source", pa.string()),
        ("dropped_images", pa.list_(DROPPED_IMAGE)),
        (SIMILARITY_MATRIX, pa.list_(pa.list_(pa.float32()))),
    ]
)

CONVERSATION = pa.schema(
    [
        ("id", pa.string()),
        ("images", pa.list_(pa.binary())),
        ("messages", pa.list_(MESSAGE)),
    ]
)

PREFERENCE = pa.schema(
    [
        ("id", pa.string()),
        ("images", pa.list_(pa.binary())),
        ("prompt", pa.list_(MESSAGE)),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "document": DOCUMENT,
    "pair": PAIR,
    "interleaved": INTERLEAVED,
    "conversation": CONVERSATION,
    "preference": PREFERENCE,
}


class SchemaMismatch(ValueError):
    """A table lacks a required column or has one of the wrong type."""


def check_schema(schema: pa.Schema, contract: str | pa.Schema, where: str = "", name: str = "") -> None:
    """Raise SchemaMismatch naming every missing or mistyped required column of `contract` (called `name` in the
    message when it is a schema)."""
    expected = SCHEMAS[contract] if isinstance(contract, str) else contract
    problems = []
    for want in expected:
        idx = schema.get_field_index(want.name)
        if idx < 0:
            problems.append(f"missing column {want.name!r} ({want.type})")
        elif not schema.field(idx).type.equals(want.type):
            problems.append(f"column {want.name!r} is {schema.field(idx).type}, expected {want.type}")
    if problems:
        name = contract if isinstance(contract, str) else name or "schema"
        prefix = f"{where}: " if where else ""
        raise SchemaMismatch(f"{prefix}not a valid {name} table: " + "; ".join(problems))
