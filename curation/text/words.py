"""Word and line splitting, and the text normalisation used for hashing."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)
_SPACES = re.compile(r"\s+")
_PUNCT_OR_DIGIT = re.compile(r"[\W\d_]+", re.UNICODE)


def words(text: str) -> list[str]:
    """Whitespace-separated tokens (Gopher/C4 count words this way)."""
    return text.split()


def alpha_words(text: str) -> list[str]:
    """Runs of word characters, for n-grams and word lists."""
    return _WORD.findall(text)


def lines(text: str) -> list[str]:
    """Non-empty lines, stripped."""
    return [ln.strip() for ln in text.split("\n") if ln.strip()]


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def normalize_for_hash(text: str) -> str:
    """Lower-case, NFKC, digits and punctuation removed, whitespace collapsed (FineWeb/datatrove-style)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCT_OR_DIGIT.sub(" ", text)
    return _SPACES.sub(" ", text).strip()
