"""OBELICS's text-quality measures, for its node- (paragraph) and document-level rules.

Definitions (facts from huggingface/OBELICS `obelics/processors/web_document_filtering.py`, the BigScience ROOTS
measures; thresholds in `obelisc/configs/config_filter_web_documents.yaml`):
- words: the text split on whitespace, lower-cased, each word stripped of special characters at both ends,
  empty words dropped.
- special characters: OBELICS lists ASCII punctuation, digits, whitespace, a set of symbols and every emoji; here a
  character is special when it is not a letter (`str.isalpha`), which covers those (their list also holds a few
  letters, e.g. `ø`, that count as letters here).
- character repetition ratio (n = 10): over the distinct character n-grams, the counts of the k most frequent
  (k = min(floor(sqrt(distinct)), distinct n-grams seen more than once)) over all n-grams.
- word repetition ratio (n = 5): word n-grams occurring more than once (every occurrence) over all word n-grams.
- stop-word / flagged-word ratio: words in the list over all words.
- punctuation ratio: tokens that are one of `, ; : ? ! .` over the tokens (runs of word characters and
  apostrophes, and those marks); a text of fewer than `min_tokens` tokens scores 1.

N-grams are counted with a Counter (faster here than the Gopher rules' numpy `TokenNgrams` on paragraph-sized
texts: 6x on the 2,072 real MMC4 sentences); the word lists reuse `badwords_filter`'s loader. The common-word ratio
(a list built from OBELICS's own corpus) and the KenLM perplexity (model weights) are not implemented.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import Counter
from importlib import resources

from curation.ops.badwords import load_word_list

PUNCTUATION = frozenset(",;:?!.")
_PUNCT_TOKENS = re.compile(r"[\w']+|[,;:?!.]")


def words(text: str) -> list[str]:
    """Lower-cased whitespace words with leading / trailing non-letters removed (empty ones dropped)."""
    out = []
    for raw in text.lower().split():
        start, end = 0, len(raw)
        while start < end and not raw[start].isalpha():
            start += 1
        while end > start and not raw[end - 1].isalpha():
            end -= 1
        if start < end:
            out.append(raw[start:end])
    return out


def special_character_ratio(text: str) -> float:
    return sum(not c.isalpha() for c in text) / len(text) if text else 0.0


def character_repetition_ratio(text: str, n: int = 10) -> float:
    if len(text) < n:
        return 0.0
    counts = sorted(Counter([text[i : i + n] for i in range(len(text) - n + 1)]).values(), reverse=True)
    top = min(math.isqrt(len(counts)), sum(c > 1 for c in counts))
    return sum(counts[:top]) / sum(counts)


def word_repetition_ratio(tokens: list[str], n: int = 5) -> float:
    if len(tokens) < n:
        return 0.0
    counts = Counter([tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]).values()
    return sum(c for c in counts if c > 1) / sum(counts)


def list_ratio(tokens: list[str], vocabulary: frozenset[str]) -> float:
    return sum(t in vocabulary for t in tokens) / len(tokens) if tokens else 0.0


def punctuation_ratio(text: str, min_tokens: int = 0) -> float:
    tokens = _PUNCT_TOKENS.findall(text)
    if not tokens:
        return 0.0
    if len(tokens) < min_tokens:
        return 1.0
    return sum(t in PUNCTUATION for t in tokens) / len(tokens)


SHIPPED = {"stopwords": "stopwords_en.txt", "flagged": "url_banned_words.txt"}


@functools.cache
def word_list(ref: str) -> frozenset[str]:
    """A word list by name or path, lower-case.

    `stopwords`: spaCy's English stop words (MIT, shipped in curation/resources with its licence). `flagged`:
    mmcurate's own explicit adult terms (the `url_filter` banned words), like OBELICS's flagged list a list of
    pornographic terms only. `profanity`: better-profanity's English list (MIT, the `badwords_filter` default):
    broad, it flags e.g. "screw", "stroke" and "pollock" (3 of the 107 real MMC4 documents fail the 0.01 cutoff
    on those alone). Anything else: a file with one word per line.
    """
    if ref in SHIPPED:
        text = (resources.files("curation") / "resources" / SHIPPED[ref]).read_text()
        return frozenset(w.strip().lower() for w in text.splitlines() if w.strip() and not w.startswith("#"))
    return load_word_list("default" if ref == "profanity" else ref)


@dataclasses.dataclass(frozen=True)
class TextRules:
    """OBELICS's ratio rules with their cutoffs (None: not checked); `failed` names the first rule a text fails."""

    max_character_repetition: float | None
    max_word_repetition: float | None
    max_special_characters: float | None
    min_stopwords: float | None
    max_flagged_words: float | None
    min_punctuation: float | None
    min_punctuation_tokens: int
    stopwords: frozenset[str]
    flagged_words: frozenset[str]

    def failed(self, text: str) -> str | None:
        tokens = words(text)
        checks = (
            (self.max_character_repetition, lambda: character_repetition_ratio(text) > self.max_character_repetition,
             "character_repetition"),
            (self.max_word_repetition, lambda: word_repetition_ratio(tokens) > self.max_word_repetition,
             "word_repetition"),
            (self.max_special_characters, lambda: special_character_ratio(text) > self.max_special_characters,
             "special_characters"),
            (self.min_stopwords, lambda: list_ratio(tokens, self.stopwords) < self.min_stopwords, "stopwords"),
            (self.max_flagged_words, lambda: list_ratio(tokens, self.flagged_words) > self.max_flagged_words,
             "flagged_words"),
            (self.min_punctuation,
             lambda: punctuation_ratio(text, self.min_punctuation_tokens) < self.min_punctuation, "punctuation"),
        )  # fmt: skip
        return next((rule for cutoff, fails, rule in checks if cutoff is not None and fails()), None)
