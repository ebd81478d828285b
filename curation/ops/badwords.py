"""Bad-words (NSFW text) filter on a word list from the `better-profanity` package, or the user's own list."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import pyarrow as pa

from curation.ops.base import AT_LEAST_0, DROP, FRACTION, Filter, register, with_drop
from curation.ops.rowwise import evaluate_text_rows
from curation.text.words import alpha_words


def load_word_list(ref: str) -> frozenset[str]:
    """`default`: better-profanity's English list (single words only); else a file with one word per line."""
    if ref == "default":
        text = (resources.files("better_profanity") / "profanity_wordlist.txt").read_text()
    else:
        path = Path(ref).expanduser()
        if not path.is_file():
            raise ValueError(f"word list {ref!r} does not exist")
        text = path.read_text()
    return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and " " not in w.strip())


@register("badwords_filter")
@dataclasses.dataclass
class BadWordsFilter(Filter):
    """Drop documents containing more than `max_count` words from a bad-word list (C4 drops on any: 0).

    `max_ratio` (none): drop only when bad words are also more than this share of the document's words, an NSFW
    density rule for long documents (the default list holds common words such as "kill" and "sex": C4's
    any-word rule drops 25 % of the visible English texts; `max_ratio: 0.02` drops 1.1 %).
    Applies to documents whose `lang` is in `languages` (the list is English) or that have no `lang`.
    Writes `badword_count`. Rule: `badwords`.
    """

    requires = ("text",)
    provides = ("badword_count",)

    ranges = {"max_count": AT_LEAST_0, "max_ratio": FRACTION}

    words: str = "default"
    max_count: int = 0
    languages: list[str] = dataclasses.field(default_factory=lambda: ["en"])
    max_ratio: float | None = None

    def setup(self) -> None:
        self._words = load_word_list(self.words)

    def _check(self, text: str) -> tuple[dict[str, float], str | None]:
        tokens = alpha_words(text.lower())
        count = sum(w in self._words for w in tokens)
        dense = self.max_ratio is None or count > self.max_ratio * len(tokens)
        return {"badword_count": count}, ("badwords" if count > self.max_count and dense else None)

    def evaluate(self, batch: pa.Table) -> pa.Table:
        scored = evaluate_text_rows(batch, "text", self._check, {"badword_count": pa.int32()})
        if "lang" not in batch.column_names or not self.languages:
            return scored
        langs = set(self.languages)
        reasons = [
            r if (lang is None or lang in langs) else None
            for r, lang in zip(scored.column(DROP).to_pylist(), batch.column("lang").to_pylist(), strict=True)
        ]
        return with_drop(scored, reasons)
