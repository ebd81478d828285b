"""`curate export OUTPUT --to llava|sharegpt|openai|trl --out DIR`: a finished conversation or preference run
in the formats trainers read, images as files beside the records.

LLaVA is written as one JSON array (`DIR/data.json`, image paths relative to DIR, LLaVA's image folder); the
others as JSON lines (`DIR/data.jsonl`). Images keep the relative names they were read under where known.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from curation.io.instruct_formats import WRITERS, image_names
from curation.io.parquet import iter_tables
from curation.io.shards import read_finished_manifest
from curation.rows import check_schema

EXPORT_FORMATS = tuple(WRITERS)
FORMAT_CONTRACT = {"llava": "conversation", "sharegpt": "conversation", "openai": "conversation"}
FORMAT_CONTRACT["trl"] = "preference"


def output_shards(output: Path) -> list[Path]:
    """The shard files of a finished run, in manifest order."""
    manifest = read_finished_manifest(output)
    return [output / shard["path"] for shard in manifest.get("shards", [])]


def output_rows(output: Path, columns: list[str] | None = None) -> Iterator[dict]:
    for shard in output_shards(output):
        for table in iter_tables(str(shard), 256, columns):
            yield from table.to_pylist()


class _ImageFiles:
    """Writes each image once under its name; a name already holding other bytes gets a content-named file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.digests: dict[str, str] = {}

    def put(self, name: str, data: bytes) -> str:
        digest = hashlib.sha1(data).hexdigest()
        if self.digests.get(name, digest) != digest:
            stem = Path(name)
            name = str(stem.with_name(f"{stem.stem}-{digest[:12]}{stem.suffix}"))
        if name not in self.digests:
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            self.digests[name] = digest
        return name


def export_instruct(output: str | Path, fmt: str, target: str | Path) -> dict:
    """Write the rows of `output` (a finished run) as `fmt` under `target`; returns counts and the file."""
    output, target = Path(output), Path(target)
    if fmt not in WRITERS:
        raise ValueError(f"unknown export format {fmt!r}; valid: {', '.join(EXPORT_FORMATS)}")
    shards = output_shards(output)
    for shard in shards:
        check_schema(pq.read_schema(shard), FORMAT_CONTRACT[fmt], where=f"{shard} (export --to {fmt})")
    target.mkdir(parents=True, exist_ok=True)
    files = _ImageFiles(target)
    write = WRITERS[fmt]
    path = target / ("data.json" if fmt == "llava" else "data.jsonl")
    records = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[\n" if fmt == "llava" else "")
        for row in output_rows(output):
            names = [files.put(n, b) for n, b in zip(image_names(row), row["images"] or [], strict=True)]
            text = json.dumps(write(row, names), ensure_ascii=False)
            if fmt == "llava":
                fh.write((",\n" if records else "") + text)
            else:
                fh.write(text + "\n")
            records += 1
        fh.write("\n]\n" if fmt == "llava" else "")
    return {"records": records, "images": len(files.digests), "file": str(path)}
