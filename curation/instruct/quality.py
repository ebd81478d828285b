"""`assistant_quality`: rules on what the model is trained to say (assistant turns, or a preference's chosen)."""

from __future__ import annotations

import dataclasses
import re

import pyarrow as pa

from curation.io.instruct_formats import IMAGE_TAG
from curation.models import FASTTEXT_LID, load_fasttext
from curation.ops.base import AT_LEAST_0, FRACTION, Filter, register, set_column, with_drop

REFUSALS = (
    "as an ai language model",
    "as an ai assistant",
    "i'm sorry, but i can't",
    "i am sorry, but i cannot",
    "i cannot assist with",
    "i can't help with that",
    "i'm unable to help",
    "i am unable to provide",
    "i cannot provide",
    "i'm not able to see",
    "i cannot see the image",
)
_LABEL = "__label__"


def assistant_texts(row: dict) -> list[str]:
    """The texts a row trains on: its assistant turns (conversation) or its chosen response (preference)."""
    if row.get("messages") is not None:
        return [m["content"] or "" for m in row["messages"] if m["role"] == "assistant"]
    return [row.get("chosen") or ""]


def repeat_ratio(words: list[str], n: int = 3) -> float:
    """Share of word n-grams that repeat an earlier one (0: none)."""
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


@register("assistant_quality")
@dataclasses.dataclass
class AssistantQuality(Filter):
    """Quality rules on assistant turns (or a preference's chosen response).

    Rules: `empty_turn` (an assistant turn with fewer than `min_words` words), `max_words` (all assistant
    turns together; 0 = no limit), `repetition` (share of repeated word 3-grams above `max_repeat_ratio`, on
    texts of at least 10 words), `refusal` (a listed refusal phrase, case-insensitive; `refusals` replaces the
    list), `language` / `low_score` (fastText lid.176 on texts of at least `lang_min_words` words; `keep` empty
    turns it off). Writes `assistant_words`, `assistant_repeat`, `assistant_lang`, `assistant_lang_score`.
    """

    ranges = {
        "min_words": AT_LEAST_0,
        "max_words": AT_LEAST_0,
        "max_repeat_ratio": FRACTION,
        "min_score": FRACTION,
        "lang_min_words": AT_LEAST_0,
    }

    provides = ("assistant_words", "assistant_repeat", "assistant_lang", "assistant_lang_score")

    min_words: int = 1
    max_words: int = 0
    max_repeat_ratio: float = 0.5
    refusals: list[str] = dataclasses.field(default_factory=lambda: list(REFUSALS))
    keep: list[str] = dataclasses.field(default_factory=lambda: ["en"])
    min_score: float = 0.5
    lang_min_words: int = 4
    model: str = FASTTEXT_LID

    def validate(self) -> None:
        if not 0.0 <= self.max_repeat_ratio <= 1.0 or not 0.0 <= self.min_score <= 1.0:
            raise ValueError("max_repeat_ratio and min_score must be within [0, 1]")

    def setup(self) -> None:
        self._model = load_fasttext(self.model) if self.keep else None
        self._refusal = (
            re.compile("|".join(re.escape(p.lower()) for p in self.refusals)) if self.refusals else None
        )

    def _check(self, texts: list[str]) -> tuple[dict, str | None]:
        clean = [t.replace(IMAGE_TAG, " ") for t in texts]
        words = " ".join(clean).split()
        repeat = repeat_ratio([w.lower() for w in words])
        scores: dict = {"assistant_words": len(words), "assistant_repeat": repeat}
        lang, lang_score = None, None
        if self._model is not None and len(words) >= self.lang_min_words:
            labels, probs = self._model.predict(" ".join(words)[:20_000], k=1)
            lang = labels[0][len(_LABEL) :] if labels else "unknown"
            lang_score = float(probs[0]) if len(probs) else 0.0
        scores.update(assistant_lang=lang, assistant_lang_score=lang_score)
        if not clean or any(len(t.split()) < self.min_words for t in clean):
            return scores, "empty_turn"
        if self.max_words and len(words) > self.max_words:
            return scores, "max_words"
        if len(words) >= 10 and repeat > self.max_repeat_ratio:
            return scores, "repetition"
        if self._refusal is not None and self._refusal.search(" ".join(clean).lower().replace("\u2019", "'")):
            return scores, "refusal"
        if lang is not None and lang not in self.keep:
            return scores, "language"
        if lang_score is not None and lang_score < self.min_score:
            return scores, "low_score"
        return scores, None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        if not hasattr(self, "_refusal"):
            self.setup()
        types = {
            "assistant_words": pa.int32(),
            "assistant_repeat": pa.float32(),
            "assistant_lang": pa.string(),
            "assistant_lang_score": pa.float32(),
        }
        columns: dict[str, list] = {k: [] for k in types}
        reasons = []
        for row in batch.select([c for c in ("messages", "chosen") if c in batch.column_names]).to_pylist():
            scores, reason = self._check(assistant_texts(row))
            for k in types:
                columns[k].append(scores[k])
            reasons.append(reason)
        for name, dtype in types.items():
            batch = set_column(batch, name, pa.array(columns[name], dtype))
        return with_drop(batch, reasons)
