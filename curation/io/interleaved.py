"""Interleaved documents: OBELICS-style parquet in, WebDataset (one JSON per document + its images) in and out.

OBELICS-style parquet has parallel `texts` / `images` lists of the same length, one node per position (a text
where `texts` has one, else an image); an image is a URL string, encoded bytes, or a struct with `bytes` /
`url` / `path`. A WebDataset document is `KEY.json` (`doc_id`, `url`, `texts`, `images` with `url`,
`text_index`, `similarity`, `width`, `height`, `alt`, `file`) and `KEY.<file>` for each image that has bytes
(`KEY.0.jpg`, `KEY.1.png`, ...).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from curation.io.parquet import iter_tables, read_parquet
from curation.io.reader_stats import ReaderStats
from curation.io.shards import exportable_shards
from curation.io.units import Unit
from curation.rows import INTERLEAVED_IMAGE, INTERLEAVED_ROW

IMAGE_FIELDS = tuple(f.name for f in INTERLEAVED_IMAGE)
INTERLEAVED_FORMATS = {"mmc4": "jsonl", "obelics": "parquet", "webdataset_interleaved": "webdataset"}
_GENERAL = "general_metadata"


def image(url: str | None = None, **fields: object) -> dict:
    """An image struct with every field present (missing ones null)."""
    return {name: fields.get(name) for name in IMAGE_FIELDS} | {"url": url}


def document(
    doc_id: str, url: str | None, texts: list[str], images: list[dict], source: str, **extra: object
) -> dict:
    """An interleaved row as a dict (what readers build before `to_table`)."""
    return {"doc_id": doc_id, "url": url, "texts": texts, "images": images, "source": source, **extra}


def to_table(docs: Iterable[dict]) -> pa.Table:
    """`INTERLEAVED_ROW` rows from dicts (missing columns null, `dropped_images` empty)."""
    rows = [
        {name: doc.get(name) for name in INTERLEAVED_ROW.names}
        | {"dropped_images": doc.get("dropped_images") or []}
        for doc in docs
    ]
    return pa.Table.from_pylist(rows, schema=INTERLEAVED_ROW)


def _node_image(node: object) -> dict | None:
    if isinstance(node, str):
        return image(node)
    if isinstance(node, bytes):
        return image(None, bytes=node)
    if isinstance(node, dict):
        return image(node.get("url") or node.get("path"), bytes=node.get("bytes"))
    return None


def obelics_document(row: dict, source: str) -> tuple[dict | None, str | None]:
    """(interleaved row, None) or (None, error reason) for one OBELICS-style row."""
    texts, images = row.get("texts"), row.get("images")
    if not isinstance(texts, list) or not isinstance(images, list) or len(texts) != len(images):
        return None, "obelics:texts_images_not_parallel"
    doc_texts, doc_images = [], []
    for text, node in zip(texts, images, strict=True):
        if text is not None and node is not None:
            return None, "obelics:text_and_image_in_one_node"
        if text is not None:
            doc_texts.append(text)
        elif node is not None:
            img = _node_image(node)
            if img is None:
                return None, "obelics:bad_image_node"
            doc_images.append(img | {"text_index": len(doc_texts)})
    url = row.get("url")
    if url is None and isinstance(row.get(_GENERAL), str):
        try:
            url = json.loads(row[_GENERAL]).get("url")
        except (json.JSONDecodeError, AttributeError):
            url = None
    return document(
        str(row.get("doc_id") or row.get("id") or source), url, doc_texts, doc_images, source
    ), None


def read_obelics(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield interleaved batches of one OBELICS-style parquet row group; malformed rows are counted errors."""
    name = os.path.basename(unit.path)
    inner = ReaderStats(path=unit.path, rejects=stats.rejects)
    row_no = 0
    for table in read_parquet(unit, inner, batch_rows):
        missing = [c for c in ("texts", "images") if c not in table.column_names]
        if missing:
            stats.error(f"obelics:missing_columns:{','.join(missing)}", table.num_rows)
            continue
        docs = []
        for row in table.to_pylist():
            source = f"{name}:{unit.row_group}:{row_no}"
            doc, problem = obelics_document(row, source)
            row_no += 1
            if doc is None:
                stats.error(problem or "obelics", id=source)
            else:
                stats.records += 1
                docs.append(doc)
        if docs:
            yield to_table(docs)
    for reason, n in inner.errors.items():  # their reject rows are already in the shared list
        stats.records += n
        stats.errors[reason] += n


def _wds_document(key: str, files: dict[str, bytes], source: str) -> tuple[dict | None, str | None]:
    if "json" not in files:
        return None, "wds:no_json"
    try:
        meta = json.loads(files["json"])
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, "wds:bad_json"
    texts, images = meta.get("texts") if isinstance(meta, dict) else None, meta.get("images") or []
    if (
        not isinstance(texts, list)
        or not all(isinstance(t, str) for t in texts)
        or not isinstance(images, list)
    ):
        return None, "wds:not_interleaved"
    doc_images = []
    for entry in images:
        if not isinstance(entry, dict):
            return None, "wds:bad_image_entry"
        data = files.get(entry["file"]) if entry.get("file") else None
        if entry.get("file") and data is None:
            return None, "wds:image_file_missing"
        doc_images.append(image(entry.get("url"), **{k: entry.get(k) for k in IMAGE_FIELDS[2:]}, bytes=data))
    return document(str(meta.get("doc_id") or key), meta.get("url"), texts, doc_images, source), None


def read_interleaved_webdataset(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield interleaved batches of one WebDataset tar of documents; a broken sample or tar is a counted error."""
    name = os.path.basename(unit.path)
    docs: list[dict] = []
    current, files = None, {}

    def flush() -> None:
        if current is None:
            return
        doc, problem = _wds_document(current, files, f"{name}:{current}")
        if doc is None:
            stats.error(problem or "wds", id=current)
        else:
            stats.records += 1
            docs.append(doc)

    try:
        with tarfile.open(unit.path, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                folder, base = os.path.split(member.name)
                key, _, ext = base.partition(".")
                key = os.path.join(folder, key)
                if key != current:
                    flush()
                    current, files = key, {}
                handle = tar.extractfile(member)
                files[ext] = handle.read() if handle else b""
                if len(docs) >= batch_rows:
                    yield to_table(docs)
                    docs = []
        flush()
    except (tarfile.TarError, OSError, EOFError) as exc:
        stats.error(f"broken_tar:{type(exc).__name__}")
    if docs:
        yield to_table(docs)


def _extension(data: bytes) -> str:
    for magic, ext in ((b"\xff\xd8", "jpg"), (b"\x89PNG", "png"), (b"GIF8", "gif"), (b"RIFF", "webp")):
        if data.startswith(magic):
            return ext
    return "bin"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _write_document(tar: tarfile.TarFile, key: str, doc: dict) -> None:
    images = []
    for i, img in enumerate(doc.get("images") or []):
        entry = {k: v for k, v in img.items() if k != "bytes"}
        if img.get("bytes"):
            entry["file"] = f"{i}.{_extension(img['bytes'])}"
            _add(tar, f"{key}.{entry['file']}", img["bytes"])
        images.append(entry)
    meta = {"doc_id": doc["doc_id"], "url": doc.get("url"), "texts": doc["texts"], "images": images}
    _add(tar, f"{key}.json", json.dumps(meta, ensure_ascii=False).encode())


def is_interleaved_output(output: str | Path) -> bool:
    """Whether a finished run's shards hold interleaved documents (`texts` and `images` columns)."""
    import pyarrow.parquet as pq

    shards = sorted((Path(output) / "data").glob("part-*.parquet"))
    return bool(shards) and {"texts", "images"} <= set(pq.read_schema(shards[0]).names)


def export_interleaved_webdataset(
    output: str | Path, target: str | Path, docs_per_shard: int = 1000
) -> list[Path]:
    """Write the interleaved shards of a finished run as WebDataset tars (`KEY.json` + `KEY.<i>.<ext>`); a shard
    without the interleaved contract's columns is a SchemaMismatch before anything is written."""
    shards = exportable_shards(output, "interleaved")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    tar, count = None, 0
    for shard in shards:
        for table in iter_tables(str(shard), 256, columns=["doc_id", "url", "texts", "images"]):
            for doc in table.to_pylist():
                if tar is None:
                    written.append(target / f"shard-{len(written):05d}.tar")
                    tar = tarfile.open(written[-1], "w")  # noqa: SIM115 - closed when full or at the end
                _write_document(tar, f"d{count:09d}", doc)
                count += 1
                if count % docs_per_shard == 0:
                    tar.close()
                    tar = None
    if tar is not None:
        tar.close()
    return written
