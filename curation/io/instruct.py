"""Recipe readers for instruction and preference files: `input.format: llava | sharegpt | trl`.

A file is a JSON array (LLaVA's layout), JSON lines, or parquet (HF datasets' layout; images as
`{"bytes", "path"}` structs). Relative image paths resolve against the file's own folder (LLaVA's image
folder: put the JSON there). A record that does not convert is a counted error named `<format>:<reason>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.instruct_formats import EXTRA, PATHS, READERS, FormatError
from curation.io.reader_stats import ReaderStats
from curation.io.units import GZIP_MAGIC, Unit
from curation.rows import CONVERSATION, PREFERENCE

_EXTRA_FIELDS = [pa.field(PATHS, pa.list_(pa.string())), pa.field(EXTRA, pa.string())]
CONVERSATION_IN = pa.schema(list(CONVERSATION) + _EXTRA_FIELDS)
PREFERENCE_IN = pa.schema(list(PREFERENCE) + _EXTRA_FIELDS)
FORMAT_SCHEMA = {"llava": CONVERSATION_IN, "sharegpt": CONVERSATION_IN, "trl": PREFERENCE_IN}
INSTRUCT_FORMATS = tuple(FORMAT_SCHEMA)


def iter_records(path: str, stats: ReaderStats) -> Iterator[tuple[str, object]]:
    """(position, record) of every record of a JSON array, JSON-lines or parquet file; unparseable
    lines and files are counted errors."""
    name = Path(path).name
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[:4] == b"PAR1":
        for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=256):
            for i, record in enumerate(batch.to_pylist()):
                yield f"{name}:{i}", record
        return
    if head[:2] == GZIP_MAGIC:
        stats.error("gzip_not_supported")
        return
    if head.lstrip().startswith(b"["):
        try:
            records = json.loads(Path(path).read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError):
            stats.error("bad_json")
            return
        for i, record in enumerate(records):
            yield f"{name}:{i}", record
        return
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield f"{name}:{lineno}", json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                stats.error("bad_json", source_offset=lineno)


def read_instruct(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Batches of conversation (llava, sharegpt) or preference (trl) rows of one file."""
    convert, schema = READERS[unit.format], FORMAT_SCHEMA[unit.format]
    base_dir = Path(unit.path).parent
    rows: list[dict] = []
    for position, record in iter_records(unit.path, stats):
        stats.records += 1
        try:
            rows.append(convert(record, base_dir, position))
        except (ValueError, TypeError, AttributeError) as exc:  # FormatError is a ValueError
            reason = exc.reason if isinstance(exc, FormatError) else "bad_record"
            stats.fail(f"{unit.format}:{reason}", id=position)
            continue
        if len(rows) >= batch_rows:
            yield pa.Table.from_pylist(rows, schema=schema)
            rows = []
    if rows:
        yield pa.Table.from_pylist(rows, schema=schema)


INSTRUCT_READERS = {fmt: read_instruct for fmt in INSTRUCT_FORMATS}
