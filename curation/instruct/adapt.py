"""Data adaptation ops: captioned pairs / VQA rows -> conversation rows, and pairs -> preference rows."""

from __future__ import annotations

import dataclasses
import re

import pyarrow as pa

from curation.instruct.templates import TASKS, conversation, row_rng, user_turn
from curation.ops.base import AT_LEAST_0, DROP, Mapper, register
from curation.rows import MESSAGE

# single-word COCO object categories (the label list of COCO 2017 instances), for hallucination negatives
OBJECTS = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "kite",
    "skateboard",
    "surfboard",
    "bottle",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "bed",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "toothbrush",
]
_OBJECT_RE = re.compile(r"\b(" + "|".join(OBJECTS) + r")(s|es)?\b", re.IGNORECASE)
NEGATIVES = ("other_caption", "object_swap", "mixed")


def _table(batch: pa.Table, drop: tuple[str, ...], columns: dict[str, pa.Array]) -> pa.Table:
    """`batch` without the columns in `drop` (and the adapted ones), with `columns` appended."""
    kept = batch.drop_columns([c for c in (*drop, *columns) if c in batch.column_names])
    for name, values in columns.items():
        kept = kept.append_column(name, values)
    return kept


def swap_object(text: str, rng) -> str | None:
    """`text` with its first COCO object word replaced by another object (plural kept); None without one."""
    match = _OBJECT_RE.search(text)
    if match is None:
        return None
    word = match.group(1).lower()
    other = rng.choice([o for o in OBJECTS if o != word])
    plural = match.group(2) or ""
    if plural:
        other += "es" if other.endswith(("s", "sh", "ch", "x")) else "s"
    return text[: match.start()] + other + text[match.end() :]


@register("to_conversation")
@dataclasses.dataclass
class ToConversation(Mapper):
    """Turn captioned pairs (or VQA rows) into one-exchange conversations with a seeded template per row.

    `tasks` maps template families (`caption_short`, `caption_detailed`, `vqa_short`) to weights; each row's
    family and wording are chosen by (seed, id). Captions answer the caption families; `vqa_short` asks the
    `question` column and answers with `answer`. The image moves into `images`; writes `id`, `images`,
    `messages` and `task`. Rule: `empty_text` (no caption / question / answer).
    """

    requires = ("image",)
    provides = ("id", "images", "messages", "task")

    ranges = {"seed": AT_LEAST_0}

    tasks: dict = dataclasses.field(default_factory=lambda: {"caption_short": 1.0})
    caption: str = "caption"
    question: str = "question"
    answer: str = "answer"
    image: str = "image"
    id_column: str = "uid"
    seed: int = 0

    def validate(self) -> None:
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise ValueError(f"tasks: unknown template family {unknown}; valid: {', '.join(TASKS)}")
        if any(not isinstance(w, int | float) or w < 0 for w in self.tasks.values()) or not sum(
            self.tasks.values()
        ):
            raise ValueError("tasks: weights must be non-negative numbers, not all zero")

    def map(self, batch: pa.Table) -> pa.Table:
        names, weights = list(self.tasks), list(self.tasks.values())
        n = batch.num_rows
        col = batch.column_names
        ids = batch.column(self.id_column).to_pylist() if self.id_column in col else [None] * n
        captions = batch.column(self.caption).to_pylist() if self.caption in col else [None] * n
        questions = batch.column(self.question).to_pylist() if self.question in col else [None] * n
        answers = batch.column(self.answer).to_pylist() if self.answer in col else [None] * n
        images = batch.column(self.image).to_pylist()
        out_ids, messages, tasks, drops = [], [], [], []
        for i in range(n):
            key = str(ids[i] if ids[i] is not None else i)
            rng = row_rng(self.seed, key)
            task = rng.choices(names, weights)[0]
            if task == "vqa_short":
                question, answer = (questions[i] or "").strip(), (answers[i] or "").strip()
            else:
                question, answer = "", (captions[i] or "").strip()
            empty = not answer or (task == "vqa_short" and not question)
            out_ids.append(key)
            tasks.append(task)
            messages.append([] if empty else conversation(task, rng, answer, question))
            drops.append("empty_text" if empty else None)
        return _table(
            batch,
            (self.image, self.caption),
            {
                "id": pa.array(out_ids, pa.string()),
                "images": pa.array([[b] if b else [] for b in images], pa.list_(pa.binary())),
                "messages": pa.array(messages, pa.list_(MESSAGE)),
                "task": pa.array(tasks, pa.string()),
                DROP: pa.array(drops, pa.string()),
            },
        )


@register("to_preference")
@dataclasses.dataclass
class ToPreference(Mapper):
    """Build preference rows from captioned pairs: chosen = the image's own caption, rejected = a negative.

    `negative`: `other_caption` (the caption of another row of the same batch, seeded), `object_swap` (the
    caption with a COCO object word swapped for another: hallucination-targeted), or `mixed` (a swap where the
    caption names an object, else another caption). The prompt is a `caption_short` template. Writes `id`,
    `images`, `prompt`, `chosen`, `rejected`, `negative`. Rules: `empty_text`, `no_negative`.
    """

    requires = ("image", "caption")
    provides = ("id", "images", "prompt", "chosen", "rejected", "negative")

    ranges = {"seed": AT_LEAST_0}

    negative: str = "mixed"
    caption: str = "caption"
    image: str = "image"
    id_column: str = "uid"
    seed: int = 0

    def validate(self) -> None:
        if self.negative not in NEGATIVES:
            raise ValueError(f"negative must be one of {', '.join(NEGATIVES)}")

    def _negative(self, i: int, captions: list[str], rng) -> tuple[str | None, str]:
        if self.negative != "other_caption":
            swapped = swap_object(captions[i], rng)
            if swapped is not None or self.negative == "object_swap":
                return swapped, "object_swap"
        others = [j for j in range(len(captions)) if captions[j] and j != i]
        return (captions[rng.choice(others)] if others else None), "other_caption"

    def map(self, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        ids = batch.column(self.id_column).to_pylist() if self.id_column in batch.column_names else [None] * n
        captions = [(c or "").strip() for c in batch.column(self.caption).to_pylist()]
        images = batch.column(self.image).to_pylist()
        out: dict[str, list] = {k: [] for k in ("id", "prompt", "chosen", "rejected", "negative", DROP)}
        for i in range(n):
            key = str(ids[i] if ids[i] is not None else i)
            rng = row_rng(self.seed, key)
            prompt = [{"role": "user", "content": user_turn("caption_short", rng)}]
            rejected, kind = self._negative(i, captions, rng) if captions[i] else (None, "")
            out["id"].append(key)
            out["prompt"].append(prompt)
            out["chosen"].append(captions[i])
            out["rejected"].append(rejected or "")
            out["negative"].append(kind)
            out[DROP].append("empty_text" if not captions[i] else None if rejected else "no_negative")
        return _table(
            batch,
            (self.image, self.caption),
            {
                "id": pa.array(out["id"], pa.string()),
                "images": pa.array([[b] if b else [] for b in images], pa.list_(pa.binary())),
                "prompt": pa.array(out["prompt"], pa.list_(MESSAGE)),
                "chosen": pa.array(out["chosen"], pa.string()),
                "rejected": pa.array(out["rejected"], pa.string()),
                "negative": pa.array(out["negative"], pa.string()),
                DROP: pa.array(out[DROP], pa.string()),
            },
        )
