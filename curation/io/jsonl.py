"""JSONL(.gz) documents, dolma / RedPajama style: `id`, `text`, optional `url` and `metadata`."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator

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


def read_jsonl(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield JSONL_DOCUMENT batches; a line that is not a JSON object with a string `text` is an error."""
    name = os.path.basename(unit.path)
    with open(unit.path, "rb") as probe:
        gz = probe.read(2) == GZIP_MAGIC
    rows: dict[str, list] = {f.name: [] for f in JSONL_DOCUMENT}
    fh = gzip.open(unit.path, "rb") if gz else open(unit.path, "rb")  # noqa: SIM115 - closed below
    try:
        lineno = 0
        while True:
            try:
                line = fh.readline()
            except (OSError, EOFError) as exc:
                stats.error(
                    "truncated_stream"
                    if isinstance(exc, EOFError)
                    else f"unreadable_stream:{type(exc).__name__}"
                )
                break
            if not line:
                break
            lineno += 1
            if not line.strip():
                continue
            stats.records += 1
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                stats.errors["bad_json"] += 1
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                stats.errors["no_text_field"] += 1
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
    finally:
        fh.close()
    if rows["id"]:
        yield pa.Table.from_pydict(rows, schema=JSONL_DOCUMENT)
