"""Fixtures for instruction / preference curation: real COCO-mini captions and images (read from ../shared/data,
copied only into pytest's tmp dirs), the tiny offline tokenizer, and table builders."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image

from curation.rows import CONVERSATION, PREFERENCE


def coco_items(shared, split: str, limit: int) -> list[dict]:
    """`{"id", "file", "path", "captions"}` of the first `limit` COCO-mini images of `split`, by image id."""
    root = shared("images", "coco_mini")
    ann = json.loads((root / "annotations" / f"captions_{split}2017.json").read_text())
    captions: dict[int, list[str]] = {}
    for a in sorted(ann["annotations"], key=lambda a: a["id"]):
        captions.setdefault(a["image_id"], []).append(a["caption"].strip())
    items = []
    for img in sorted(ann["images"], key=lambda i: i["id"]):
        path = root / f"{split}2017" / img["file_name"]
        if img["id"] in captions and path.is_file():
            items.append(
                {
                    "id": str(img["id"]),
                    "file": img["file_name"],
                    "path": path,
                    "captions": captions[img["id"]],
                }
            )
        if len(items) == limit:
            break
    return items


@pytest.fixture(scope="session")
def coco_train(shared) -> list[dict]:
    return coco_items(shared, "train", 24)


@pytest.fixture(scope="session")
def coco_val(shared) -> list[dict]:
    return coco_items(shared, "val", 12)


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory) -> str:
    """The trainer's tiny offline tokenizer (ChatML template), saved as a folder."""
    from training.toy import build_tokenizer

    out = tmp_path_factory.mktemp("tok") / "lm"
    build_tokenizer(out)
    return str(out)


def resized_jpeg(data: bytes, scale: float, quality: int = 80) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        small = img.convert("RGB").resize((int(img.width * scale), int(img.height * scale)))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def conversations(rows: list[tuple[str, list[bytes], list[tuple[str, str]]]]) -> pa.Table:
    """A conversation table from (id, images, [(role, content), ...])."""
    return pa.Table.from_pydict(
        {
            "id": [r[0] for r in rows],
            "images": [r[1] for r in rows],
            "messages": [[{"role": role, "content": text} for role, text in r[2]] for r in rows],
        },
        schema=CONVERSATION,
    )


def preferences(rows: list[tuple[str, list[bytes], list[tuple[str, str]], str, str]]) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "id": [r[0] for r in rows],
            "images": [r[1] for r in rows],
            "prompt": [[{"role": role, "content": text} for role, text in r[2]] for r in rows],
            "chosen": [r[3] for r in rows],
            "rejected": [r[4] for r in rows],
        },
        schema=PREFERENCE,
    )


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False))
    return path


def write_jsonl(path: Path, records: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return path
