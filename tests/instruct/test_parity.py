"""Parity with the trainer: `conversation_validate` drops exactly the rows the trainer's batch stream drops, with the
same reasons, and the trainer then drops nothing from the curated shards (real tokenizer, real vision preprocessing,
the trainer's ShardSource / BatchStream over shards written by the curation writer)."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest

from curation.instruct.validate import ConversationValidate
from curation.io.shards import write_table_shards

from .conftest import conversations, preferences

MAX_LENGTH = 48


@pytest.fixture(scope="module")
def vision(tmp_path_factory):
    """The trainer's HF CLIP tower (tiny, random) for its image preprocessing and patch count."""
    from training.config import VisionConfig
    from training.model.vision import build_vision_tower
    from training.toy import build_hf_clip

    folder = tmp_path_factory.mktemp("clip") / "hf_clip"
    build_hf_clip(folder)
    return build_vision_tower(VisionConfig(source="hf", name=str(folder), pretrained=None, layer=-2))


def trainer_drops(path, schema: str, rows: int, tokenizer: str, vision) -> Counter:
    """What the trainer's own data path drops when it reads every row of `path` once."""
    from training.config import SourceConfig
    from training.data.prompting import PromptEncoder
    from training.data.shards import Mixture
    from training.data.stream import BatchStream, StreamSpec, open_sources
    from training.model.lm import load_tokenizer
    from training.stages import sample_builder

    encoder = PromptEncoder(load_tokenizer(tokenizer), vision.num_patches, MAX_LENGTH)
    spec = StreamSpec(
        [SourceConfig(path=str(path))], schema, seed=0, shuffle=False, rank=0, world=1, micro_batch=rows
    )
    stream = BatchStream(
        spec, sample_builder(schema, encoder, vision.preprocess), collate=lambda s: {"n": len(s)}
    )
    batch = stream.batch(0, open_sources(spec), Mixture([1.0], seed=0))
    assert batch["n"] + sum(batch["drops"].values()) == rows
    return Counter(batch["drops"])


def curate(table: pa.Table, tokenizer: str, vision) -> pa.Table:
    op = ConversationValidate(tokenizer=tokenizer, num_patches=vision.num_patches, max_length=MAX_LENGTH)
    op.validate()
    op.setup()
    return op.evaluate(table)


def check_parity(table: pa.Table, schema: str, tmp_path, tokenizer: str, vision) -> Counter:
    write_table_shards(table, tmp_path / "raw", shard_rows=4)
    marked = curate(table, tokenizer, vision)
    curated = Counter(r for r in marked.column("_drop").to_pylist() if r)
    assert curated == trainer_drops(tmp_path / "raw", schema, table.num_rows, tokenizer, vision)
    kept = marked.filter(pa.compute.is_null(marked.column("_drop"))).drop_columns(["_drop"])
    write_table_shards(kept, tmp_path / "curated", shard_rows=4)
    assert trainer_drops(tmp_path / "curated", schema, kept.num_rows, tokenizer, vision) == Counter()
    return curated


def test_conversation_rows_the_trainer_drops_are_dropped_with_its_reasons(
    coco_train, tiny_tokenizer, vision, tmp_path
):
    img = [t["path"].read_bytes() for t in coco_train[:6]]
    long_text = " ".join(t["captions"][0] for t in coco_train[:6])
    rows = [
        (
            f"good-{i}",
            [img[i]],
            [("user", "<image>\nDescribe the picture."), ("assistant", coco_train[i]["captions"][0])],
        )
        for i in range(4)
    ]
    rows += [
        ("text-only", [], [("system", "be brief"), ("user", "say red"), ("assistant", "red")]),
        ("two-tags", [img[0]], [("user", "<image><image> compare"), ("assistant", "same")]),
        ("no-tag", [img[1]], [("user", "what is it?"), ("assistant", "a photo")]),
        ("assistant-first", [], [("assistant", "hello"), ("user", "hi")]),
        ("bad-role", [], [("human", "hi"), ("assistant", "hello")]),
        ("image-cut", [img[2]], [("user", f"{long_text}\n<image>"), ("assistant", "ok")]),
        ("masked", [img[3]], [("user", f"<image>\n{long_text}"), ("assistant", "the answer")]),
        ("corrupt", [b"\xff\xd8\xff-not-a-jpeg"], [("user", "<image>"), ("assistant", "a cat")]),
    ]
    curated = check_parity(conversations(rows), "conversation", tmp_path, tiny_tokenizer, vision)
    assert curated == Counter(
        image_count_mismatch=2, bad_conversation=2, truncated_image=1, fully_masked=1, bad_image=1
    )


def test_preference_rows_the_trainer_drops_are_dropped_with_its_reasons(
    coco_train, tiny_tokenizer, vision, tmp_path
):
    img = [t["path"].read_bytes() for t in coco_train[:4]]
    prompt = [("user", "<image>\nWhat is shown?")]
    rows = [
        (f"ok-{i}", [img[i]], prompt, coco_train[i]["captions"][0], coco_train[i + 1]["captions"][0])
        for i in range(3)
    ]
    rows += [
        ("empty", [img[0]], prompt, "", "something"),
        ("no-image", [], prompt, "a", "b"),
        ("corrupt", [b"GIF89a-broken"], prompt, "a", "b"),
    ]
    curated = check_parity(preferences(rows), "preference", tmp_path, tiny_tokenizer, vision)
    assert curated == Counter(empty_text=1, image_count_mismatch=1, bad_image=1)
