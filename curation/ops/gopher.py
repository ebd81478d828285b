"""Gopher repetition and quality rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from curation.ops.base import Filter, register
from curation.ops.rowwise import evaluate_text_rows
from curation.text.words import alpha_words, paragraphs, words

STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with"))
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "‣", "⁃", "◦")
ELLIPSES = ("...", "…")


def _dup_fractions(items: list[str]) -> tuple[float, float]:
    """(fraction of items that repeat an earlier one, fraction of characters in those repeats)."""
    if not items:
        return 0.0, 0.0
    seen: set[str] = set()
    dup_items = dup_chars = 0
    for item in items:
        if item in seen:
            dup_items += 1
            dup_chars += len(item)
        else:
            seen.add(item)
    total_chars = sum(len(i) for i in items) or 1
    return dup_items / len(items), dup_chars / total_chars


class TokenNgrams:
    """The word n-grams of one document as dense integer ids, built incrementally (n-gram id = id of the pair
    (its (n-1)-gram id, its last word id)), so every n from 1 up costs a few numpy passes, no tuples."""

    def __init__(self, tokens: list[str]) -> None:
        vocab: dict[str, int] = {}
        self.lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        self.total_chars = int(self.lengths.sum())
        self._words = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int64, count=len(tokens)
        )
        self._vocab_size = len(vocab)
        self._ids = {1: self._words}

    def ids(self, n: int) -> np.ndarray:
        """One id per n-gram start position (len(tokens) - n + 1 of them); equal ids = equal n-grams."""
        if n not in self._ids:
            pairs = self.ids(n - 1)[:-1] * self._vocab_size + self._words[n - 1 :]
            self._ids[n] = np.unique(pairs, return_inverse=True)[1].reshape(-1)
        return self._ids[n]

    def _scored_ids(self, n: int) -> np.ndarray | None:
        """The n-gram ids, or None when the document has no n-gram or no word characters to score."""
        return self.ids(n) if n <= len(self.lengths) and self.total_chars else None

    def top_char_fraction(self, n: int) -> float:
        """Characters covered by the most frequent n-gram (the first to occur among ties), over all word characters."""
        ids = self._scored_ids(n)
        if ids is None:
            return 0.0
        counts = np.bincount(ids)
        top = int(counts.max())
        if top < 2:
            return 0.0
        first = int(np.flatnonzero(counts[ids] == top)[0])
        return int(self.lengths[first : first + n].sum()) * top / self.total_chars

    def dup_char_fraction(self, n: int) -> float:
        """Characters of words that lie in any n-gram occurring more than once (each word counted once)."""
        ids = self._scored_ids(n)
        if ids is None:
            return 0.0
        repeated = (np.bincount(ids)[ids] > 1).astype(np.int64)
        covered = np.convolve(repeated, np.ones(n, dtype=np.int64))[: len(self.lengths)] > 0
        return int(self.lengths[covered].sum()) / self.total_chars


@register("gopher_repetition")
@dataclasses.dataclass
class GopherRepetition(Filter):
    """Gopher repetition removal: duplicate lines/paragraphs and repeated n-grams, with the paper's thresholds.

    Rules: `dup_line_frac` 0.30, `dup_para_frac` 0.30, `dup_line_char_frac` 0.20, `dup_para_char_frac` 0.20;
    `top_{n}_gram` (most frequent n-gram's share of characters; 2: 0.20, 3: 0.18, 4: 0.16) and
    `dup_{n}_gram` (characters in repeated n-grams; 5: 0.15 ... 10: 0.10).
    """

    requires = ("text",)
    provides = ("gopher_dup_line_frac",)

    dup_line_frac: float = 0.30
    dup_para_frac: float = 0.30
    dup_line_char_frac: float = 0.20
    dup_para_char_frac: float = 0.20
    top_n_grams: dict[int, float] = dataclasses.field(default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    dup_n_grams: dict[int, float] = dataclasses.field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )

    def _check(self, text: str) -> tuple[dict[str, float], str | None]:
        line_frac, line_char = _dup_fractions([ln for ln in text.split("\n") if ln.strip()])
        para_frac, para_char = _dup_fractions(paragraphs(text))
        scores = {"gopher_dup_line_frac": line_frac}
        for rule, value, limit in (
            ("dup_para_frac", para_frac, self.dup_para_frac),
            ("dup_para_char_frac", para_char, self.dup_para_char_frac),
            ("dup_line_frac", line_frac, self.dup_line_frac),
            ("dup_line_char_frac", line_char, self.dup_line_char_frac),
        ):
            if value > limit:
                return scores, rule
        grams = TokenNgrams(alpha_words(text.lower()))
        for n, limit in sorted(self.top_n_grams.items()):
            if grams.top_char_fraction(n) > limit:
                return scores, f"top_{n}_gram"
        for n, limit in sorted(self.dup_n_grams.items()):
            if grams.dup_char_fraction(n) > limit:
                return scores, f"dup_{n}_gram"
        return scores, None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        return evaluate_text_rows(batch, "text", self._check, {"gopher_dup_line_frac": pa.float32()})


@register("gopher_quality")
@dataclasses.dataclass
class GopherQuality(Filter):
    """Gopher quality rules: document length, mean word length, symbols, bullets, ellipses, alphabetic words, stop words.

    Defaults are the paper's: 50-100,000 words, mean word length 3-10, symbol/word ratio <= 0.1,
    <= 90 % bullet lines, <= 30 % lines ending in an ellipsis, >= 80 % words with a letter, >= 2 stop words.
    """

    requires = ("text",)
    provides = ("gopher_words",)

    min_doc_words: int = 50
    max_doc_words: int = 100_000
    min_avg_word_length: float = 3.0
    max_avg_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    min_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2

    def _check(self, text: str) -> tuple[dict[str, float], str | None]:
        toks = words(text)
        n = len(toks)
        scores = {"gopher_words": float(n)}
        if n < self.min_doc_words:
            return scores, "min_doc_words"
        if n > self.max_doc_words:
            return scores, "max_doc_words"
        avg = sum(len(t) for t in toks) / n
        if avg < self.min_avg_word_length:
            return scores, "min_avg_word_length"
        if avg > self.max_avg_word_length:
            return scores, "max_avg_word_length"
        symbols = text.count("#") + sum(text.count(e) for e in ELLIPSES)
        if symbols / n > self.max_symbol_word_ratio:
            return scores, "symbol_word_ratio"
        doc_lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        if doc_lines:
            if sum(ln.startswith(BULLETS) for ln in doc_lines) / len(doc_lines) > self.max_bullet_lines_ratio:
                return scores, "bullet_lines_ratio"
            if (
                sum(ln.endswith(ELLIPSES) for ln in doc_lines) / len(doc_lines)
                > self.max_ellipsis_lines_ratio
            ):
                return scores, "ellipsis_lines_ratio"
        if sum(any(c.isalpha() for c in t) for t in toks) / n < self.min_alpha_words_ratio:
            return scores, "alpha_words_ratio"
        if sum(t.lower() in STOP_WORDS for t in toks) < self.min_stop_words:
            return scores, "stop_words"
        return scores, None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        return evaluate_text_rows(batch, "text", self._check, {"gopher_words": pa.int32()})
