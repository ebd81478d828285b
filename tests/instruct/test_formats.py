"""Format converters: LLaVA JSON, LLaMA-Factory sharegpt, OpenAI messages and TRL preference records read into the
contracts by the recipe readers and written back by `curate export` are equal to the originals (JSON and image
bytes), on real COCO-mini captions and images; broken records are counted errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from curation.cli import main as curate
from curation.io.instruct import FORMAT_SCHEMA, read_instruct
from curation.io.instruct_formats import IMAGE_TAG, content_text, text_parts
from curation.io.reader_stats import ReaderStats
from curation.io.shards import write_table_shards
from curation.io.units import Unit
from curation.rows import check_schema

from .conftest import write_json, write_jsonl


def read(path: Path, fmt: str) -> tuple[pa.Table, ReaderStats]:
    stats = ReaderStats()
    tables = list(read_instruct(Unit(0, str(path), fmt), stats, batch_rows=7))
    return (pa.concat_tables(tables) if tables else FORMAT_SCHEMA[fmt].empty_table()), stats


def copy_images(items: list[dict], folder: Path) -> list[str]:
    """Copy the images under `folder/train2017/`; returns their paths relative to `folder`."""
    (folder / "train2017").mkdir(parents=True, exist_ok=True)
    for item in items:
        shutil.copyfile(item["path"], folder / "train2017" / item["file"])
    return [f"train2017/{item['file']}" for item in items]


def round_trip(records, src: Path, fmt: str, out_fmt: str, tmp_path: Path, contract: str) -> Path:
    """Read `src` (format `fmt`), write shards, export as `out_fmt` with the CLI; check and return the export."""
    table, stats = read(src, fmt)
    assert stats.records == len(records) and not stats.errors
    check_schema(table.schema, contract)
    write_table_shards(table, tmp_path / "curated", shard_rows=5)
    assert curate(["export", str(tmp_path / "curated"), "--to", out_fmt, "--out", str(tmp_path / "out")]) == 0
    return tmp_path / "out"


def assert_same_images(exported: Path, original: Path, names: list[str]) -> None:
    for name in names:
        assert (exported / name).read_bytes() == (original / name).read_bytes(), name


def test_llava_json_round_trip_is_lossless(coco_train, tmp_path):
    src = tmp_path / "llava"
    names = copy_images(coco_train, src)
    records = [
        {
            "id": item["id"],
            "image": name,
            "conversations": [
                {"from": "human", "value": f"{IMAGE_TAG}\nWhat is in the picture?"},
                {"from": "gpt", "value": item["captions"][0]},
                {"from": "human", "value": "Describe it another way."},
                {"from": "gpt", "value": item["captions"][1]},
            ],
            "source": "coco_mini",
        }
        for item, name in zip(coco_train, names, strict=True)
    ]
    records.append(
        {
            "id": "text-only",
            "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}],
        }
    )
    write_json(src / "llava.json", records)
    out = round_trip(records, src / "llava.json", "llava", "llava", tmp_path, "conversation")
    assert json.loads((out / "data.json").read_text()) == records
    assert_same_images(out, src, names)


def test_sharegpt_and_openai_round_trips_are_lossless(coco_train, tmp_path):
    src = tmp_path / "sg"
    names = copy_images(coco_train, src)
    sharegpt = [
        {
            "id": item["id"],
            "system": "You are a careful describer of photos.",
            "conversations": [
                {"from": "human", "value": f"{IMAGE_TAG}Caption this."},
                {"from": "gpt", "value": item["captions"][2]},
            ],
            "images": [name],
        }
        for item, name in zip(coco_train, names, strict=True)
    ]
    two = coco_train[0]["captions"][0], coco_train[1]["captions"][0]
    sharegpt.append(
        {
            "id": "two-images",
            "conversations": [
                {"from": "human", "value": f"{IMAGE_TAG}{IMAGE_TAG}Which is which?"},
                {"from": "gpt", "value": f"First: {two[0]} Second: {two[1]}"},
            ],
            "images": names[:2],
        }
    )
    write_jsonl(src / "sharegpt.jsonl", sharegpt)
    out = round_trip(sharegpt, src / "sharegpt.jsonl", "sharegpt", "sharegpt", tmp_path / "a", "conversation")
    assert [json.loads(x) for x in (out / "data.jsonl").read_text().splitlines()] == sharegpt
    assert_same_images(out, src, names)

    openai = [
        {
            "id": item["id"],
            "messages": [
                {"role": "user", "content": f"{IMAGE_TAG}\nWhat do you see?"},
                {"role": "assistant", "content": item["captions"][3]},
            ],
            "images": [name],
        }
        for item, name in zip(coco_train, names, strict=True)
    ]
    write_jsonl(src / "openai.jsonl", openai)
    out = round_trip(openai, src / "openai.jsonl", "sharegpt", "openai", tmp_path / "b", "conversation")
    assert [json.loads(x) for x in (out / "data.jsonl").read_text().splitlines()] == openai


def test_trl_round_trips_are_lossless(coco_train, tmp_path):
    src = tmp_path / "trl"
    names = copy_images(coco_train, src)
    records = []
    for i, (item, name) in enumerate(zip(coco_train, names, strict=True)):
        other = coco_train[(i + 1) % len(coco_train)]["captions"][0]
        if i % 3 == 0:  # conversational, TRL's vision layout
            records.append(
                {
                    "id": item["id"],
                    "prompt": [{"role": "user", "content": text_parts(f"{IMAGE_TAG}Describe the image.")}],
                    "chosen": [{"role": "assistant", "content": text_parts(item["captions"][0])}],
                    "rejected": [{"role": "assistant", "content": text_parts(other)}],
                    "images": [name],
                }
            )
        elif i % 3 == 1:  # standard (strings)
            records.append(
                {
                    "id": item["id"],
                    "prompt": f"{IMAGE_TAG}Caption?",
                    "chosen": item["captions"][0],
                    "rejected": other,
                    "images": [name],
                }
            )
        else:  # implicit prompt
            turns = [{"role": "user", "content": text_parts(f"{IMAGE_TAG}What is this?")}]
            records.append(
                {
                    "id": item["id"],
                    "chosen": turns + [{"role": "assistant", "content": text_parts(item["captions"][0])}],
                    "rejected": turns + [{"role": "assistant", "content": text_parts(other)}],
                    "images": [name],
                }
            )
    write_jsonl(src / "trl.jsonl", records)
    out = round_trip(records, src / "trl.jsonl", "trl", "trl", tmp_path, "preference")
    assert [json.loads(x) for x in (out / "data.jsonl").read_text().splitlines()] == records
    assert_same_images(out, src, names)


def test_content_parts_and_broken_records_are_counted(coco_train, tmp_path):
    src = tmp_path / "bad"
    names = copy_images(coco_train[:2], src)
    inline: list = []
    parts = [{"type": "image", "image": names[0]}, {"type": "text", "text": "What is it?"}]
    assert content_text(parts, inline) == f"{IMAGE_TAG}What is it?" and inline == [names[0]]
    lines = [
        json.dumps(
            {
                "id": "ok",
                "messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": "x"}],
            }
        ),
        json.dumps(
            {"id": "gone", "conversations": [{"from": "human", "value": "<image>"}], "images": ["nope.jpg"]}
        ),
        json.dumps({"id": "remote", "conversations": [], "images": ["http://example.com/a.jpg"]}),
        "{not json",
        json.dumps({"id": "no-turns"}),
        json.dumps([1, 2]),
    ]
    (src / "mixed.jsonl").write_text("\n".join(lines) + "\n")
    table, stats = read(src / "mixed.jsonl", "sharegpt")
    assert table.column("id").to_pylist() == ["ok"]
    assert table.column("images").to_pylist()[0] == [(src / names[0]).read_bytes()]
    assert stats.records == 6
    assert dict(stats.errors) == {
        "sharegpt:missing_image": 1,
        "sharegpt:remote_image": 1,
        "bad_json": 1,
        "sharegpt:no_conversations": 1,
        "sharegpt:not_an_object": 1,
    }
    unshared = {
        "chosen": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
        "rejected": [{"role": "user", "content": "OTHER"}, {"role": "assistant", "content": "c"}],
    }
    write_jsonl(src / "trl.jsonl", [unshared])
    table, stats = read(src / "trl.jsonl", "trl")
    assert table.num_rows == 0 and dict(stats.errors) == {"trl:unshared_prompt": 1}


def test_export_refuses_the_wrong_contract(tmp_path, capsys):
    from .conftest import conversations

    write_table_shards(conversations([("a", [], [("user", "q"), ("assistant", "a")])]), tmp_path / "conv")
    assert curate(["export", str(tmp_path / "conv"), "--to", "trl", "--out", str(tmp_path / "x")]) == 2
    assert "missing column 'prompt'" in capsys.readouterr().err
    assert curate(["export", str(tmp_path / "conv"), "--to", "llava"]) == 2


@pytest.mark.parametrize("fmt", ["llava", "sharegpt", "trl"])
def test_recipe_accepts_the_instruct_formats(fmt, tmp_path):
    from curation.recipe import parse_recipe

    recipe = parse_recipe(
        {"input": {"format": fmt, "paths": ["x.json"]}, "steps": [{"conversation_keys": {}}]}
    )
    assert recipe.input_format == fmt
