"""Instruct stages through `curate run` on a local Ray: conversation dedup groups collapse to one row, the mix hits
its fractions on 10,000 rows exactly and deterministically, and every run keeps the accounting identity."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.dataset as pads

from curation.instruct.dedup import ConversationKeys
from curation.io.shards import write_table_shards
from curation.recipe import load_recipe, parse_recipe
from curation.rows import CONVERSATION
from curation.runner.run import run_recipe

from .conftest import conversations, resized_jpeg


def run(raw: dict, out, **kwargs):
    result = run_recipe(parse_recipe(raw), output=str(out), **kwargs)
    assert result.stats["totals"]["identity_holds"], result.stats["totals"]
    return result, pads.dataset(str(out / "data")).to_table()


def steps_of(result) -> dict:
    return {s["step"]: s for s in result.stats["steps"]}


def test_duplicate_conversation_groups_collapse_to_one(ray_local, tmp_path, coco_train):
    img = [t["path"].read_bytes() for t in coco_train]
    story = " ".join(c for t in coco_train[:3] for c in t["captions"])  # ~150 words of real captions
    words = story.split()
    near = [
        " ".join(words[:40] + ["elephantine"] + words[41:]),
        " ".join(words[:90] + ["zebra"] + words[91:]),
    ]
    rows = [
        (
            "a0",
            [img[0]],
            [("user", "<image>\nDescribe it."), ("assistant", "A man rides a horse on the beach.")],
        ),
        (
            "a1",
            [resized_jpeg(img[0], 0.7)],
            [("user", "<image>\ndescribe it"), ("assistant", "a man rides a horse, on the beach!")],
        ),
        (
            "a2",
            [img[0]],
            [("user", "<image>\nDESCRIBE IT."), ("assistant", "A man rides a horse on the beach")],
        ),
        ("b0", [img[1]], [("user", "<image>\nTell me everything."), ("assistant", story)]),
        ("b1", [img[1]], [("user", "<image>\nTell me everything."), ("assistant", near[0])]),
        ("b2", [img[1]], [("user", "<image>\nTell me everything."), ("assistant", near[1])]),
    ]
    rows += [
        (f"d{i}", [img[i]], [("user", "<image>\nCaption?"), ("assistant", coco_train[i]["captions"][0])])
        for i in range(2, 12)
    ]
    table = conversations(rows)
    other_image = conversations([("c", [img[5]], rows[0][2])])
    keys = ConversationKeys().map(pa.concat_tables([table.slice(0, 1), other_image]))
    assert len(set(keys.column("conversation_text").to_pylist())) == 1  # same words ...
    assert len(set(keys.column("conversation_key").to_pylist())) == 2  # ... about another picture
    write_table_shards(table, tmp_path / "in", shard_rows=5)
    raw = {
        "input": {"format": "parquet", "paths": [str(tmp_path / "in" / "data" / "*.parquet")]},
        "steps": [
            {"conversation_keys": {}},
            {"exact_dedup": {"column": "conversation_key", "normalize": False}},
            {"minhash_dedup": {"column": "conversation_text"}},
        ],
    }
    result, out = run(raw, tmp_path / "out")
    assert out.column("id").to_pylist() == ["a0", "b0"] + [f"d{i}" for i in range(2, 12)]
    steps = steps_of(result)
    assert steps["exact_dedup"]["dropped"] == {"exact_dedup:duplicate": 2}
    assert sum(steps["minhash_dedup"]["dropped"].values()) == 2


def mix_pool(n: int = 10_000) -> pa.Table:
    """5,000 / 3,000 / 1,500 image rows from sources a / b / c, and 500 text-only rows (source a)."""
    sources = ["a"] * 5000 + ["b"] * 3000 + ["c"] * 1500 + ["a"] * 500
    table = pa.Table.from_pydict(
        {
            "id": [f"r{i:05d}" for i in range(n)],
            "images": [[b"img"] if i < 9500 else [] for i in range(n)],
            "messages": [[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]] * n,
            "source": sources,
        },
        schema=pa.schema(list(CONVERSATION) + [pa.field("source", pa.string())]),
    )
    order = sorted(range(n), key=lambda i: (i * 7919) % n)  # interleave the sources across files
    return table.take(order)


def test_mix_hits_target_fractions_on_10000_rows_and_is_deterministic(ray_local, tmp_path):
    write_table_shards(mix_pool(), tmp_path / "in", shard_rows=2500)
    fractions = {"a": 0.4, "b": 0.3, "c": 0.2, "text_only": 0.1}
    raw = lambda seed, batch: {  # noqa: E731
        "input": {
            "format": "parquet",
            "paths": [str(tmp_path / "in" / "data" / "*.parquet")],
            "batch_rows": batch,
        },
        "seed": seed,
        "steps": [{"mix": {"column": "source", "fractions": fractions}}],
    }
    result, out = run(raw(0, 512), tmp_path / "s0")
    assert result.stats["totals"]["input_records"] == 10_000
    groups = Counter(
        "text_only" if not imgs else src
        for imgs, src in zip(out.column("images").to_pylist(), out.column("source").to_pylist(), strict=True)
    )
    assert out.num_rows == 5000  # the text-only share (500 rows) is the scarcest: 500 / 0.1
    for group, target in fractions.items():
        assert abs(groups[group] / out.num_rows - target) <= 0.01, (group, groups)
    assert steps_of(result)["mix"]["dropped"] == {"mix:over_quota": 5000}
    _, again = run(raw(0, 97), tmp_path / "s0b")  # other batch sizes: the same rows
    assert again.column("id").to_pylist() == out.column("id").to_pylist()
    _, other = run(raw(1, 512), tmp_path / "s1")
    assert other.num_rows == 5000 and other.column("id").to_pylist() != out.column("id").to_pylist()


def test_quotas_split_a_total_by_largest_remainders():
    from curation.instruct.mix import quotas

    assert quotas({"a": 100, "b": 100, "c": 5}, {"a": 1, "b": 1, "c": 1}, 0) == {"a": 5, "b": 5, "c": 5}
    assert quotas({"a": 100, "b": 100}, {"a": 2, "b": 1}, 10) == {"a": 7, "b": 3}
    assert quotas({"a": 100, "b": 10}, {"a": 1, "b": 1}, 1000) == {"a": 10, "b": 10}  # capped by b
    assert quotas({"a": 100}, {"a": 1, "gone": 0}, 0) == {"a": 100, "gone": 0}


def test_shipped_recipes_parse():
    for name in ("llava_instruct", "preference"):
        recipe = load_recipe(f"pipelines/{name}.yaml")
        assert recipe.steps and recipe.input_format == "parquet"
