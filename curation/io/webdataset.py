"""WebDataset tar shards: read image-text samples (`key.jpg` + `key.txt`/`key.json`) and export pair shards."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from curation.io.atomic import atomic_path
from curation.io.parquet import iter_tables
from curation.io.reader_stats import ReaderStats
from curation.io.shards import exportable_shards
from curation.io.units import Unit
from curation.rows import PAIR, WDS_PAIR

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
# what a pair shard needs to become WebDataset samples (`uid.jpg` + `uid.txt`)
EXPORT_COLUMNS = pa.schema([PAIR.field("uid"), PAIR.field("caption"), PAIR.field("image")])


def _split(name: str) -> tuple[str, str]:
    """WebDataset keys: everything before the first dot of the file name (directories included)."""
    folder, base = os.path.split(name)
    key, _, ext = base.partition(".")
    return os.path.join(folder, key), ext.lower()


def _row(key: str, files: dict[str, bytes], source: str) -> dict | None:
    image = next((files[e] for e in IMAGE_EXTS if e in files), None)
    if image is None:
        return None
    meta = {}
    if "json" in files:
        try:
            meta = json.loads(files["json"])
        except (json.JSONDecodeError, UnicodeDecodeError):
            meta = {}
    caption = files["txt"].decode("utf-8", "replace") if "txt" in files else meta.get("caption")
    return {
        "uid": str(meta.get("key", key)),
        "url": meta.get("url"),
        "caption": caption,
        "image": image,
        "source": source,
        "metadata": json.dumps(meta, sort_keys=True, default=str) if meta else None,
    }


def read_webdataset(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield pair rows of one tar shard; a sample without an image, or a broken tar tail, is a counted error."""
    name = os.path.basename(unit.path)
    rows: list[dict] = []
    current, files = None, {}

    def flush() -> None:
        if current is None:
            return
        stats.records += 1
        row = _row(current, files, f"{name}:{current}")
        if row is None:
            stats.fail("wds_sample_without_image", id=current)
        else:
            rows.append(row)

    try:
        with tarfile.open(unit.path, mode="r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, ext = _split(member.name)
                if key != current:
                    flush()
                    current, files = key, {}
                handle = tar.extractfile(member)
                files[ext] = handle.read() if handle else b""
                if len(rows) >= batch_rows:
                    yield pa.Table.from_pylist(rows, schema=WDS_PAIR)
                    rows = []
        flush()
    except (tarfile.TarError, OSError, EOFError) as exc:
        stats.error(f"broken_tar:{type(exc).__name__}")
    if rows:
        yield pa.Table.from_pylist(rows, schema=WDS_PAIR)


def _samples(shards: list[Path]) -> Iterator[dict]:
    for shard in shards:
        for table in iter_tables(str(shard), 1024):
            yield from table.to_pylist()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _write_tar(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, tarfile.open(tmp, "w") as tar:
        for row in rows:
            uid = str(row.pop("uid"))
            _add(tar, f"{uid}.jpg", row.pop("image") or b"")
            _add(tar, f"{uid}.txt", (row.pop("caption") or "").encode())
            extra = {k: v for k, v in row.items() if not isinstance(v, bytes | list)}
            if extra:
                _add(tar, f"{uid}.json", json.dumps(extra, sort_keys=True, default=str).encode())


def write_shards(samples: Iterable[dict], target: str | Path, samples_per_shard: int = 10_000) -> list[Path]:
    """Write pair rows (`uid`, `image`, `caption`, other scalar columns) as `shard-NNNNN.tar` WebDataset tars;
    each shard appears only when complete."""
    if samples_per_shard < 1:
        raise ValueError(f"samples per shard must be >= 1, got {samples_per_shard}")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    pending: list[dict] = []
    for row in samples:
        pending.append(row)
        if len(pending) == samples_per_shard:
            written.append(target / f"shard-{len(written):05d}.tar")
            _write_tar(written[-1], pending)
            pending = []
    if pending:
        written.append(target / f"shard-{len(written):05d}.tar")
        _write_tar(written[-1], pending)
    return written


def export_webdataset(output: str | Path, target: str | Path, samples_per_shard: int = 10_000) -> list[Path]:
    """Write the pair shards of a finished run as WebDataset tars: `uid.jpg`, `uid.txt` and `uid.json` (scores).

    A run without the columns samples need (`uid`, `caption`, `image`) is a `SchemaMismatch`, before any write.
    """
    shards = exportable_shards(output, EXPORT_COLUMNS, name="image-text")
    return write_shards(_samples(shards), target, samples_per_shard)
