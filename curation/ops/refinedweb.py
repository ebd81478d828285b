"""RefinedWeb's line-wise corrections (Penedo et al. 2023, appendix G.2): lines of web boilerplate left after
extraction (social-media counters, all-caps navigation, lone words, "Read more...") are removed or edited, and
a document that loses more than 5 % of its words to them is dropped.

The paper lists the rules with examples only ("e.g. 3 likes", "e.g. sign-in"); the patterns below are this
module's reading of them, each a parameter.
"""

from __future__ import annotations

import dataclasses
import re

import pyarrow as pa

from curation.ops.base import AT_LEAST_0, ERROR, FRACTION, NOTE, Filter, register, set_column, with_drop
from curation.text.words import count_words_or_chars

# "3 likes", "1.2K shares", "12,004 views": a number (optionally K/M/B), an engagement noun, nothing else
_COUNTER = re.compile(
    r"^\W*\d[\d.,]*\s?[kmb]?\s+(?:likes?|shares?|comments?|views?|followers?|retweets?|repl(?:y|ies)|"
    r"votes?|upvotes?|downvotes?|downloads?|reactions?|subscribers?|reposts?|bookmarks?)\W*$",
    re.IGNORECASE,
)


_ASCII_UPPER = bytes(range(ord("A"), ord("Z") + 1))


def count_upper(line: str) -> int:
    """Upper-case characters of `line`."""
    if line.isascii():
        raw = line.encode("ascii")
        return len(raw) - len(raw.translate(None, _ASCII_UPPER))
    return sum(map(str.isupper, line))


def _pattern(words: list[str], where: str) -> re.Pattern[str] | None:
    """A case-insensitive pattern for `words` at the line's start (`prefix`), end (`suffix`) or anywhere."""
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    body = {"prefix": rf"^\s*(?:{alternatives})", "suffix": rf"(?:{alternatives})\s*$"}.get(
        where, rf"(?:{alternatives})"
    )
    return re.compile(body, re.IGNORECASE)


@register("refinedweb_lines")
@dataclasses.dataclass
class RefinedWebLines(Filter):
    """RefinedWeb's line-wise corrections; rewrites `text` to the corrected lines, drops `too_many_corrections`.

    A line is removed when over `max_uppercase_share` (0.5) of its characters are upper case, when all its
    non-space characters are digits, when it is a counter ("3 likes", "1.2K shares"), or when it has fewer than
    `min_words` (2) words. In a line of at most `max_pattern_words` (10) words, `prefix_patterns` at its start,
    `suffix_patterns` at its end and `anywhere_patterns` are cut out (case-insensitive); a line left empty is
    removed. Where the removed words are over `max_removed_share` (0.05) of the document's words, the document is
    dropped; otherwise a corrected row is noted `lines_corrected`. Words are whitespace-separated tokens with a
    letter or digit, and each character of a script written without spaces (Chinese, Japanese, Thai) is a word
    (`count_words_or_chars`), so a line of such text is not taken for one word.
    """

    requires = ("text",)
    provides = ("text",)

    ranges = {
        "max_uppercase_share": FRACTION,
        "min_words": AT_LEAST_0,
        "max_pattern_words": AT_LEAST_0,
        "max_removed_share": FRACTION,
    }

    max_uppercase_share: float = 0.5
    min_words: int = 2
    max_pattern_words: int = 10
    prefix_patterns: list[str] = dataclasses.field(default_factory=lambda: ["sign-in", "sign in", "log in"])
    suffix_patterns: list[str] = dataclasses.field(
        default_factory=lambda: ["read more...", "read more…", "read more"]
    )
    anywhere_patterns: list[str] = dataclasses.field(
        default_factory=lambda: ["items in cart", "item in cart"]
    )
    max_removed_share: float = 0.05

    def __post_init__(self) -> None:
        self._edits = [
            p
            for p in (
                _pattern(self.prefix_patterns, "prefix"),
                _pattern(self.suffix_patterns, "suffix"),
                _pattern(self.anywhere_patterns, "anywhere"),
            )
            if p is not None
        ]

    def validate(self) -> None:
        super().validate()
        for name in ("max_uppercase_share", "max_removed_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.min_words < 0 or self.max_pattern_words < 0:
            raise ValueError("min_words and max_pattern_words must be >= 0")
        for name in ("prefix_patterns", "suffix_patterns", "anywhere_patterns"):
            if not all(isinstance(w, str) and w.strip() for w in getattr(self, name)):
                raise ValueError(f"{name} must be non-blank strings, got {getattr(self, name)!r}")

    def removal_rule(self, line: str, words: int | None = None) -> str | None:
        """The rule that removes the (non-blank) stripped `line` whole: `uppercase`, `numeric`, `counter`,
        `one_word`; None where none does. `words`: its `count_words_or_chars`, where the caller has it."""
        if count_upper(line) > self.max_uppercase_share * len(line):
            return "uppercase"
        if all(c.isdigit() or c.isspace() for c in line):
            return "numeric"
        if _COUNTER.match(line):
            return "counter"
        if words is None:
            words = count_words_or_chars(line)
        return "one_word" if words < self.min_words else None

    def correct_line(self, line: str) -> str:
        """The line as corrected: '' where it is removed, the line with its patterns cut out, or as it is."""
        return self._corrected(line, count_words_or_chars(line))

    def _corrected(self, line: str, words: int) -> str:
        stripped = line.strip()
        if not stripped:
            return line
        if self.removal_rule(stripped, words):
            return ""
        if words <= self.max_pattern_words:
            edited = stripped
            for pattern in self._edits:
                edited = pattern.sub(" ", edited)
            edited = " ".join(edited.split())
            if edited != " ".join(stripped.split()):  # an edit: the rules again on what is left (idempotent)
                return self.correct_line(edited)
        return line

    def correct(self, text: str) -> tuple[str, int, int]:
        """(corrected text, words removed, words in `text`); removed lines leave no blank line behind."""
        total = removed = 0
        kept = []
        for line in text.split("\n"):
            words = count_words_or_chars(line)
            corrected = self._corrected(line, words)
            total += words
            if corrected is not line:
                removed += words - count_words_or_chars(corrected)
            if corrected or not line.strip():
                kept.append(corrected)
        return "\n".join(kept), removed, total

    def evaluate(self, batch: pa.Table) -> pa.Table:
        texts, reasons, errors, notes = [], [], [], []
        for text in batch.column("text").to_pylist():
            reason = note = error = None
            if text is None:
                error = "null_text"
            else:
                corrected, removed, total = self.correct(text)
                if removed > self.max_removed_share * total:
                    reason = "too_many_corrections"
                elif removed or corrected != text:
                    note, text = "lines_corrected", corrected
            texts.append(text)
            reasons.append(reason)
            errors.append(error)
            notes.append(note)
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, type=pa.string()))
        if any(notes):
            batch = set_column(batch, NOTE, pa.array(notes, type=pa.string()))
        if not self.tag_only:
            batch = set_column(batch, "text", pa.array(texts, type=pa.string()))
        return with_drop(batch, reasons)
