"""Row-local instruct ops on real COCO-mini data: decontamination, preference checks, adaptation templates,
assistant-turn quality rules."""

from __future__ import annotations

import pyarrow as pa

from curation.instruct.adapt import ToConversation, ToPreference, swap_object
from curation.instruct.decontam import Decontaminate
from curation.instruct.preference import PreferenceCheck
from curation.instruct.quality import AssistantQuality
from curation.rows import PAIR

from .conftest import conversations, preferences, resized_jpeg


def drops(table: pa.Table) -> list:
    return table.column("_drop").to_pylist()


def test_decontamination_removes_planted_copies_and_keeps_the_rest(shared, coco_train, coco_val):
    val_ann = shared("images", "coco_mini", "annotations", "captions_val2017.json")
    clean = [
        (
            f"clean-{t['id']}",
            [t["path"].read_bytes()],
            [("user", "<image>\nDescribe it."), ("assistant", t["captions"][0])],
        )
        for t in coco_train
    ]
    long_val = [v for v in coco_val if len(v["captions"][0].split()) >= 8]
    text_copies = [  # an evaluation caption inside a longer answer, about a training image
        (
            f"text-{v['id']}",
            [coco_train[i]["path"].read_bytes()],
            [
                ("user", "<image>\nWhat is this?"),
                ("assistant", f"Well. {v['captions'][0].upper()} That is all!"),
            ],
        )
        for i, v in enumerate(long_val[:4])
    ]
    question_copy = (
        "question-copy",
        [coco_train[5]["path"].read_bytes()],
        [("user", f"<image>\n{coco_val[6]['captions'][1]}"), ("assistant", "yes")],
    )
    image_copies = [  # evaluation images resized and re-encoded, with a training caption
        (
            f"image-{v['id']}",
            [resized_jpeg(v["path"].read_bytes(), scale)],
            [("user", "<image>\nCaption?"), ("assistant", coco_train[i]["captions"][1])],
        )
        for i, (v, scale) in enumerate(zip(coco_val[:4], (0.5, 0.33, 0.8, 0.25), strict=True))
    ]
    table = conversations(clean + text_copies + [question_copy] + image_copies)
    op = Decontaminate(eval_paths=[str(val_ann)])
    op.validate()
    op.setup()
    out = op.evaluate(table)
    expected = (
        [None] * len(clean)
        + ["text_overlap"] * (len(text_copies) + 1)
        + ["image_overlap"] * len(image_copies)
    )
    assert drops(out) == expected
    bits = out.column("contamination_image_bits").to_pylist()
    assert all(b <= op.phash_radius for b in bits[-len(image_copies) :])
    assert (
        min(bits[: len(clean)]) > op.phash_radius
    )  # every training image is far from every evaluation image


def test_decontamination_reads_curated_outputs_and_vqa_records(tmp_path, coco_val):
    from curation.io.shards import write_table_shards

    from .conftest import write_jsonl

    eval_dir = tmp_path / "eval_run"
    eval_rows = [
        (v["id"], [v["path"].read_bytes()], [("user", "<image>"), ("assistant", v["captions"][0])])
        for v in coco_val[:3]
    ]
    write_table_shards(conversations(eval_rows), eval_dir)
    vqa = write_jsonl(
        tmp_path / "vqa.jsonl",
        [
            {
                "question": "How many giraffes are standing next to the tall tree in the park?",
                "answers": ["two"],
            }
        ],
    )
    op = Decontaminate(eval_paths=[str(eval_dir), str(vqa)], images=True)
    op.setup()
    table = conversations(
        [
            (
                "copy",
                [resized_jpeg(coco_val[1]["path"].read_bytes(), 0.6)],
                [("user", "<image>"), ("assistant", "a picture")],
            ),
            (
                "vqa",
                [],
                [
                    ("user", "how many giraffes are standing next to the tall tree in the park"),
                    ("assistant", "3"),
                ],
            ),
            ("fine", [], [("user", "how many giraffes"), ("assistant", "two")]),
        ]
    )
    assert drops(op.evaluate(table)) == ["image_overlap", "text_overlap", None]


def test_preference_check_drops_identical_and_promptless_pairs():
    prompt = [("user", "<image>\nWhat is shown?")]
    table = preferences(
        [
            ("ok", [b"x"], prompt, "A dog on a couch.", "A cat on a couch."),
            ("same", [b"x"], prompt, "A dog on a couch.", "a DOG on a couch!!"),
            ("empty", [b"x"], prompt, "A dog.", "   "),
            ("no-user", [b"x"], [("user", "hi"), ("assistant", "hello")], "A dog.", "A cat."),
            ("no-prompt", [b"x"], [], "A dog.", "A cat."),
        ]
    )
    out = PreferenceCheck().evaluate(table)
    assert drops(out) == [None, "identical", "empty_response", "no_prompt", "no_prompt"]
    assert out.column("chosen_words").to_pylist()[0] == 5


def pair_table(items: list[dict]) -> pa.Table:
    return pa.Table.from_pydict(
        {
            "uid": [i["id"] for i in items],
            "url": [None] * len(items),
            "caption": [i["captions"][0] for i in items],
            "image": [i["path"].read_bytes() for i in items],
            "width": [1] * len(items),
            "height": [1] * len(items),
        },
        schema=PAIR,
    )


def test_adaptation_is_seeded_per_row_and_independent_of_batching(coco_train):
    pairs = pair_table(coco_train)
    op = ToConversation(tasks={"caption_short": 1, "caption_detailed": 1}, seed=3)
    op.validate()
    whole = op.map(pairs)
    parts = pa.concat_tables([op.map(pairs.slice(0, 5)), op.map(pairs.slice(5))])
    assert whole.to_pylist() == parts.to_pylist()
    assert set(whole.column("task").to_pylist()) == {"caption_short", "caption_detailed"}
    first = whole.to_pylist()[0]
    assert first["images"] == [coco_train[0]["path"].read_bytes()] and "image" not in whole.column_names
    assert first["messages"][1] == {"role": "assistant", "content": coco_train[0]["captions"][0]}
    assert first["messages"][0]["content"].count("<image>") == 1
    other_seed = ToConversation(tasks={"caption_short": 1, "caption_detailed": 1}, seed=4).map(pairs)
    assert other_seed.column("messages").to_pylist() != whole.column("messages").to_pylist()
    vqa = pa.table(
        {
            "uid": ["q1", "q2"],
            "image": [b"i", b"j"],
            "question": ["What color is the bus?", ""],
            "answer": ["Red", "x"],
        }
    )
    out = ToConversation(tasks={"vqa_short": 1}).map(vqa)
    assert (
        "What color is the bus?\nAnswer the question using a single word or phrase."
        in out.column("messages").to_pylist()[0][0]["content"]
    )
    assert drops(out) == [None, "empty_text"]


def test_preference_pairs_from_captions(coco_train):
    import random

    assert swap_object("Two dogs sit on a bench.", random.Random(0)).count("dogs") == 0
    assert swap_object("A view of the sky.", random.Random(0)) is None
    pairs = pair_table(coco_train)
    out = ToPreference(negative="mixed", seed=1).map(pairs).to_pylist()
    for row, item in zip(out, coco_train, strict=True):
        assert row["chosen"] == item["captions"][0] and row["rejected"] != row["chosen"]
        assert row["negative"] in ("object_swap", "other_caption") and row["_drop"] is None
    assert {r["negative"] for r in out} == {"object_swap", "other_caption"}
    others = ToPreference(negative="other_caption").map(pairs).to_pylist()
    captions = {i["captions"][0] for i in coco_train}
    assert all(r["rejected"] in captions - {r["chosen"]} for r in others)


def test_assistant_quality_rules():
    rows = [
        ("good", [("user", "q"), ("assistant", "A man rides a horse along the beach at sunset.")]),
        ("refusal", [("user", "q"), ("assistant", "I'm sorry, but I can't describe people in images.")]),
        ("repeat", [("user", "q"), ("assistant", " ".join(["the cat sat on the mat"] * 6))]),
        (
            "german",
            [("user", "q"), ("assistant", "Ein Mann reitet am Strand entlang auf einem braunen Pferd.")],
        ),
        ("empty", [("user", "q"), ("assistant", "fine"), ("user", "more?"), ("assistant", " ")]),
        ("short-ok", [("user", "q"), ("assistant", "red")]),
    ]
    op = AssistantQuality(max_words=0)
    op.setup()
    out = op.evaluate(conversations([(i, [], t) for i, t in rows]))
    assert drops(out) == [None, "refusal", "repetition", "language", "empty_turn", None]
    assert out.column("assistant_lang").to_pylist()[5] is None  # too short for language ID
