"""Evaluation sets for decontamination: their question / answer / caption texts and their images.

A path is one of: a curation output folder (`_manifest.json`; pair, conversation or preference rows), a COCO
captions annotation file (`annotations/captions_<split>.json`, images in the sibling `<split>/` folder), or a
JSON / JSON-lines / parquet file of LLaVA, ShareGPT / OpenAI, TRL or plain VQA records (`question`, `answer` or
`answers`, `caption`, `text`, `image`), images relative to the file's folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from curation.io.instruct_formats import IMAGE_TAG, FormatError, from_sharegpt, from_trl, load_image
from curation.io.reader_stats import ReaderStats

_TEXT_KEYS = ("question", "answer", "caption", "text")


@dataclass
class EvalSet:
    texts: list[str] = field(default_factory=list)
    images: list[bytes] = field(default_factory=list)


def row_texts(row: dict) -> list[str]:
    """Every text of a contract row (or converted record): turns, prompt, responses, caption."""
    out = [m["content"] or "" for m in (row.get("messages") or []) + (row.get("prompt") or [])]
    out += [row[k] for k in ("chosen", "rejected", "caption") if isinstance(row.get(k), str)]
    return [t.replace(IMAGE_TAG, " ") for t in out]


def _coco(path: Path, data: dict, out: EvalSet) -> None:
    split = path.stem.split("_")[-1]
    folder = path.parent.parent / split
    files = {img["id"]: folder / img["file_name"] for img in data.get("images", [])}
    out.texts.extend(a["caption"] for a in data.get("annotations", []) if isinstance(a.get("caption"), str))
    for image_id in sorted(files):
        if not files[image_id].is_file():
            raise FileNotFoundError(f"{path}: image {files[image_id]} of the evaluation set is missing")
        out.images.append(files[image_id].read_bytes())


def _record(record: dict, base: Path, out: EvalSet) -> None:
    if "conversations" in record or "messages" in record:
        row = from_sharegpt(record, base)
    elif "chosen" in record:
        row = from_trl(record, base)
    else:
        answers = record.get("answers") if isinstance(record.get("answers"), list) else []
        out.texts.extend(str(record[k]) for k in _TEXT_KEYS if isinstance(record.get(k), str))
        out.texts.extend(a if isinstance(a, str) else str(a.get("answer", "")) for a in answers)
        if record.get("image") is not None:
            out.images.append(load_image(record["image"], base)[0])
        return
    out.texts.extend(row_texts(row))
    out.images.extend(row["images"])


def _records(path: Path) -> Iterator[dict]:
    from curation.io.instruct import iter_records

    stats = ReaderStats()
    for _, record in iter_records(str(path), stats):
        yield record
    if stats.errors:
        raise ValueError(f"{path}: unreadable evaluation file ({dict(stats.errors)})")


def load_eval_set(paths: list[str]) -> EvalSet:
    """Texts and image bytes of every evaluation path; anything unreadable is an error naming the path."""
    from curation.instruct.export import output_rows

    out = EvalSet()
    for raw in paths:
        path = Path(raw)
        if (path / "_manifest.json").is_file():
            for row in output_rows(path):
                out.texts.extend(row_texts(row))
                out.images.extend(b for b in row.get("images") or [row.get("image")] if b)
            continue
        if not path.is_file():
            raise FileNotFoundError(f"evaluation set {raw!r} does not exist")
        if path.read_bytes()[:1] == b"{":
            try:
                data = json.loads(path.read_bytes())
            except json.JSONDecodeError:  # JSON lines
                data = None
            if isinstance(data, dict) and "annotations" in data:
                _coco(path, data, out)
                continue
        for record in _records(path):
            try:
                _record(record, path.parent, out)
            except FormatError as exc:
                raise ValueError(f"{path}: bad evaluation record: {exc}") from exc
    return out
