"""JSONL(.gz) documents, dolma / RedPajama style: `id`, `text`, optional `url` and `metadata`."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Iterator
from typing import IO

import pyarrow as pa

from curation.io.reader_stats import ReaderStats
from curation.io.units import GZIP_MAGIC, Unit
from curation.rows import JSONL_DOCUMENT

_URL_KEYS = ("url", "warc_url", "WARC-Target-URI")


def _url(obj: dict) -> str | None:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    for key in _URL_KEYS:
        for holder in (obj, meta):
            if isinstance(holder.get(key), str):
                return holder[key]
    return None


MAX_LINE_BYTES = 64 << 20  # a longer line is one counted error, read past in pieces
BOM = b"\xef\xbb\xbf"


def _encodable(*values: object) -> bool:
    """Whether every string among `values` is valid Unicode (JSON can carry lone surrogates, Arrow cannot)."""
    try:
        for value in values:
            if isinstance(value, str):
                value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse(line: bytes) -> tuple[dict | None, str | None]:
    """(the document, None) or (None, why the line is not one)."""
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None, "bad_json"
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return None, "no_text_field"
    if not _encodable(obj["text"], obj.get("id"), _url(obj)):
        return None, "invalid_unicode"
    return obj, None


def _lines(fh: IO[bytes], stats: ReaderStats) -> Iterator[bytes | None]:
    """The lines of `fh` (a byte-order mark at the start dropped); None for a line over MAX_LINE_BYTES."""
    first = True
    while True:
        try:
            line = fh.readline(MAX_LINE_BYTES + 1)
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):
                    line = fh.readline(MAX_LINE_BYTES)
                yield None
                continue
        except (OSError, EOFError, zlib.error) as exc:
            stats.error(
                "truncated_stream" if isinstance(exc, EOFError) else f"unreadable_stream:{type(exc).__name__}"
            )
            return
        if not line:
            return
        if first:
            line, first = line.removeprefix(BOM), False
        yield line


def read_jsonl(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield JSONL_DOCUMENT batches; a line that is not a JSON object with a string `text` is an error, and
    reading goes on with the next line."""
    name = os.path.basename(unit.path)
    with open(unit.path, "rb") as probe:
        gz = probe.read(2) == GZIP_MAGIC
    rows: dict[str, list] = {f.name: [] for f in JSONL_DOCUMENT}
    with gzip.open(unit.path, "rb") if gz else open(unit.path, "rb") as fh:
        for lineno, line in enumerate(_lines(fh, stats), start=1):
            if line is None:
                stats.error("line_too_long", source_offset=lineno)
                continue
            if not line.strip():
                continue
            stats.records += 1
            obj, problem = _parse(line)
            if obj is None:
                stats.fail(problem, source_offset=lineno)
                continue
            rows["id"].append(str(obj["id"]) if obj.get("id") is not None else f"{name}:{lineno}")
            rows["url"].append(_url(obj))
            rows["text"].append(obj["text"])
            rows["source"].append(f"{name}:{lineno}")
            rest = {k: v for k, v in obj.items() if k not in ("id", "text")}
            rows["metadata"].append(json.dumps(rest, sort_keys=True, default=str) if rest else None)
            if len(rows["id"]) >= batch_rows:
                yield pa.Table.from_pydict(rows, schema=JSONL_DOCUMENT)
                rows = {k: [] for k in rows}
    if rows["id"]:
        yield pa.Table.from_pydict(rows, schema=JSONL_DOCUMENT)
