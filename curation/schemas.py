"""Arrow schemas of the data contracts (design section 5).

Curation writes these, training reads them; both sides import them from here.
Each schema lists the required columns; ops may add score columns after them.
"""

from __future__ import annotations

import pyarrow as pa

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


def check_schema(schema: pa.Schema, contract: str | pa.Schema, where: str = "") -> None:
    """Raise SchemaMismatch naming every missing or mistyped required column of `contract`."""
    expected = SCHEMAS[contract] if isinstance(contract, str) else contract
    problems = []
    for field in expected:
        idx = schema.get_field_index(field.name)
        if idx < 0:
            problems.append(f"missing column {field.name!r} ({field.type})")
        elif not schema.field(idx).type.equals(field.type):
            problems.append(f"column {field.name!r} is {schema.field(idx).type}, expected {field.type}")
    if problems:
        name = contract if isinstance(contract, str) else "schema"
        prefix = f"{where}: " if where else ""
        raise SchemaMismatch(f"{prefix}not a valid {name} table: " + "; ".join(problems))
