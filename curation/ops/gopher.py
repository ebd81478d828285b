"""Gopher repetition and quality rules (Rae et al. 2021, "Scaling Language Models", appendix A.1.1).

Where the paper leaves a measure open (what a word is, what a fraction is taken of), the rules take
datatrove's reading, which is what FineWeb ran: words are punctuation-split tokens (`split_tokens`), character
fractions are taken of the whole text, a repeated line, paragraph or n-gram counts from its second occurrence.
One deviation follows the paper instead (see benchmarks/RESULTS.md, "Filter parity"): the share of words with
a letter is taken over words, not over words and punctuation marks.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pyarrow as pa

from curation.ops.base import AT_LEAST_0, FRACTION, Filter, register
from curation.ops.rowwise import evaluate_text_rows
from curation.text.words import split_tokens

STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with"))
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "‣", "⁃", "◦")
ELLIPSES = ("...", "…")
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAK = re.compile(r"\n+")


def _repeats(items: list[str]) -> tuple[int, int]:
    """(items equal to an earlier item, characters in those items)."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _is_symbol(token: str) -> bool:
    """A token made of punctuation and symbols only (no letter, digit or underscore)."""
    return not any(c.isalnum() or c == "_" for c in token)


class TokenNgrams:
    """The token n-grams of one document as dense integer ids, built incrementally (n-gram id = id of the pair
    (its (n-1)-gram id, its last token id)), so every n from 1 up costs a few numpy passes, no tuples."""

    def __init__(self, tokens: list[str]) -> None:
        vocab: dict[str, int] = {}
        self.lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        self._words = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int64, count=len(tokens)
        )
        self._vocab_size = len(vocab)
        self._ids = {1: self._words}
        self._starts = np.concatenate(([0], np.cumsum(self.lengths)))

    def ids(self, n: int) -> np.ndarray:
        """One id per n-gram start position (len(tokens) - n + 1 of them); equal ids = equal n-grams."""
        if n not in self._ids:
            pairs = self.ids(n - 1)[:-1] * self._vocab_size + self._words[n - 1 :]
            self._ids[n] = np.unique(pairs, return_inverse=True)[1].reshape(-1)
        return self._ids[n]

    def _chars(self, start: int, n: int) -> int:
        """Characters of the tokens of the n-gram at `start`, separators not counted."""
        return int(self._starts[start + n] - self._starts[start])

    def top_chars(self, n: int) -> int:
        """Characters of the most frequent n-gram (the first to occur among ties, words joined by single
        spaces) times its count."""
        if n > len(self.lengths):
            return 0
        ids = self.ids(n)
        counts = np.bincount(ids)
        top = int(counts.max())
        first = int(np.flatnonzero(counts[ids] == top)[0])
        return (self._chars(first, n) + n - 1) * top

    def repeated_chars(self, n: int) -> int:
        """Characters in repeated n-grams, reading left to right: an n-gram seen before counts its characters and
        the reading jumps past it; otherwise it is remembered and the reading moves one token on."""
        if n > len(self.lengths):
            return 0
        ids = self.ids(n)
        counts = np.bincount(ids)
        if int(counts.max()) < 2:
            return 0
        seen = np.zeros(len(counts), dtype=bool)
        total = idx = 0
        last = len(ids)
        while idx < last:
            gram = ids[idx]
            if seen[gram]:
                total += self._chars(idx, n)
                idx += n
            else:
                seen[gram] = True
                idx += 1
        return total

    def repeated_chars_bound(self, n: int) -> int:
        """An upper bound of `repeated_chars`: characters of tokens covered by any n-gram that occurs twice."""
        if n > len(self.lengths):
            return 0
        ids = self.ids(n)
        repeated = (np.bincount(ids)[ids] > 1).astype(np.int64)
        covered = np.convolve(repeated, np.ones(n, dtype=np.int64))[: len(self.lengths)] > 0
        return int(self.lengths[covered].sum())


@register("gopher_repetition")
@dataclasses.dataclass
class GopherRepetition(Filter):
    """Gopher repetition removal: duplicate lines/paragraphs and repeated n-grams, with the paper's thresholds.

    Rules: `dup_para_frac` 0.30, `dup_para_char_frac` 0.20, `dup_line_frac` 0.30, `dup_line_char_frac` 0.20
    (paragraphs split at blank lines, lines at newlines; a repeat counts from its second occurrence);
    `top_{n}_gram` (the most frequent n-gram's characters times its count, over the text's characters;
    2: 0.20, 3: 0.18, 4: 0.16) and `dup_{n}_gram` (characters in repeated n-grams; 5: 0.15 ... 10: 0.10).
    """

    ranges = {
        "dup_line_frac": FRACTION,
        "dup_para_frac": FRACTION,
        "dup_line_char_frac": FRACTION,
        "dup_para_char_frac": FRACTION,
        "top_n_grams": FRACTION,
        "dup_n_grams": FRACTION,
    }

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
        if not text:
            return {}, "empty"
        size = len(text)
        paras = _PARAGRAPH_BREAK.split(text.strip())
        para_count, para_chars = _repeats(paras)
        doc_lines = _LINE_BREAK.split(text)
        line_count, line_chars = _repeats(doc_lines)
        scores = {"gopher_dup_line_frac": line_count / len(doc_lines)}
        for rule, value, limit in (
            ("dup_para_frac", para_count / len(paras), self.dup_para_frac),
            ("dup_para_char_frac", para_chars / size, self.dup_para_char_frac),
            ("dup_line_frac", line_count / len(doc_lines), self.dup_line_frac),
            ("dup_line_char_frac", line_chars / size, self.dup_line_char_frac),
        ):
            if value > limit:
                return scores, rule
        grams = TokenNgrams(split_tokens(text))
        for n, limit in sorted(self.top_n_grams.items()):
            if grams.top_chars(n) / size > limit:
                return scores, f"top_{n}_gram"
        for n, limit in sorted(self.dup_n_grams.items()):
            if grams.repeated_chars_bound(n) / size > limit and grams.repeated_chars(n) / size > limit:
                return scores, f"dup_{n}_gram"
        return scores, None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        return evaluate_text_rows(batch, "text", self._check, {"gopher_dup_line_frac": pa.float32()})


@register("gopher_quality")
@dataclasses.dataclass
class GopherQuality(Filter):
    """Gopher quality rules: document length, mean word length, symbols, bullets, ellipses, alphabetic words, stop words.

    Defaults are the paper's: 50-100,000 words, mean word length 3-10, symbol/word ratio <= 0.1,
    <= 90 % bullet lines, <= 30 % lines ending in an ellipsis, >= 80 % words with a letter, at least 2 of the
    8 stop words. Words are punctuation-split tokens that are not punctuation marks themselves;
    `alpha_ratio_counts_punctuation: true` counts punctuation marks as words in the letter rule, as datatrove
    (and so FineWeb) does.
    """

    requires = ("text",)
    provides = ("gopher_words",)

    ranges = {
        "min_doc_words": AT_LEAST_0,
        "max_doc_words": AT_LEAST_0,
        "min_avg_word_length": AT_LEAST_0,
        "max_avg_word_length": AT_LEAST_0,
        "max_symbol_word_ratio": AT_LEAST_0,
        "max_bullet_lines_ratio": FRACTION,
        "max_ellipsis_lines_ratio": FRACTION,
        "min_alpha_words_ratio": FRACTION,
        "min_stop_words": AT_LEAST_0,
    }

    min_doc_words: int = 50
    max_doc_words: int = 100_000
    min_avg_word_length: float = 3.0
    max_avg_word_length: float = 10.0
    max_symbol_word_ratio: float = 0.1
    max_bullet_lines_ratio: float = 0.9
    max_ellipsis_lines_ratio: float = 0.3
    min_alpha_words_ratio: float = 0.8
    min_stop_words: int = 2
    alpha_ratio_counts_punctuation: bool = False

    def _check(self, text: str) -> tuple[dict[str, float], str | None]:
        tokens = split_tokens(text)
        toks = [t for t in tokens if not _is_symbol(t)]
        n = len(toks)
        scores = {"gopher_words": float(n)}
        if n < self.min_doc_words:
            return scores, "min_doc_words"
        if n > self.max_doc_words:
            return scores, "max_doc_words"
        avg = sum(map(len, toks)) / n
        if avg < self.min_avg_word_length:
            return scores, "min_avg_word_length"
        if avg > self.max_avg_word_length:
            return scores, "max_avg_word_length"
        if (
            max(text.count("#"), sum(text.count(e) for e in ELLIPSES)) / len(tokens)
            > self.max_symbol_word_ratio
        ):
            return scores, "symbol_word_ratio"
        doc_lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        if sum(ln.startswith(BULLETS) for ln in doc_lines) / len(doc_lines) > self.max_bullet_lines_ratio:
            return scores, "bullet_lines_ratio"
        if sum(ln.endswith(ELLIPSES) for ln in doc_lines) / len(doc_lines) > self.max_ellipsis_lines_ratio:
            return scores, "ellipsis_lines_ratio"
        alpha_base = tokens if self.alpha_ratio_counts_punctuation else toks
        if sum(any(c.isalpha() for c in t) for t in toks) / len(alpha_base) < self.min_alpha_words_ratio:
            return scores, "alpha_words_ratio"
        if len(STOP_WORDS.intersection(t.lower() for t in toks)) < self.min_stop_words:
            return scores, "stop_words"
        return scores, None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        return evaluate_text_rows(batch, "text", self._check, {"gopher_words": pa.int32()})
