"""Word and line splitting, and the text normalisation used for hashing."""

from __future__ import annotations

import re
import unicodedata

import regex

_WORD = re.compile(r"\w+", re.UNICODE)
_SPACES = re.compile(r"\s+")
_PUNCT_OR_DIGIT = re.compile(r"[\W\d_]+", re.UNICODE)


def words(text: str) -> list[str]:
    """Whitespace-separated tokens (Gopher/C4 count words this way)."""
    return text.split()


# a token's start, any non-alphanumeric characters of it, then a letter or digit: one match per word, tried only
# where a token starts (linear on any input)
_WORD_START = re.compile(r"(?<!\S)(?:[^\w\s]|_)*[^\W_]")


def count_words(text: str) -> int:
    """Whitespace-separated tokens holding a letter or digit (a bullet or a dash is not a word)."""
    return len(_WORD_START.findall(text))


# scripts written without spaces between words: each of their characters counts as a word (or token) of its own
UNSPACED_SCRIPTS = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_UNSPACED = regex.compile(f"[{UNSPACED_SCRIPTS}]")


def count_words_or_chars(text: str) -> int:
    """`count_words`, with every character of a script written without spaces (Chinese, Japanese, Thai, ...)
    counted as one word."""
    unspaced = 0 if text.isascii() else len(_UNSPACED.findall(text))
    return count_words(_UNSPACED.sub(" ", text)) + unspaced if unspaced else count_words(text)


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


# Punctuation-split tokens, the way English word tokenizers (spaCy's rules, which datatrove and so FineWeb use)
# cut whitespace-separated chunks: leading and trailing punctuation, clitics ('s, n't) and hyphens between letters
# become their own tokens; URLs and e-mail addresses stay whole.
_PREFIX = re.compile(r"""(?:\.\.\.|[\"'(\[{<“‘«„¿¡*$£€§#&~]|-{2,})""")
_SUFFIX = re.compile(
    r"""(?:\.\.\.|…|[,;:!?)\]}>\"'”’»%]|(?<=[^\W\d_A-Z]{2})\.|(?<=\d)\.|(?i:['’](?:s|re|ve|ll|d|m)|n['’]t)|-{2,})$"""
)
_INFIX = re.compile(r"((?<=[^\W\d_])(?:-|–|—|\.\.\.|,)(?=[^\W\d_])|(?<=\d)[+*^-](?=\d))")
_WHOLE = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@\w+(?:\.\w+)+")


def _suffix_start(chunk: str, start: int, end: int) -> int | None:
    """Where the suffix token ending `chunk[start:end]` starts (as `_SUFFIX.search` on that slice), or None.

    Every suffix but a dash run is at most 3 characters long, so only the last 3 are searched (lookbehinds see
    further back, as on the slice: what lies before `start` is stripped punctuation); a dash run is measured.
    Stripping a long run of punctuation one token at a time so stays linear in its length.
    """
    if chunk.endswith("--", start, end):
        first = end - 2
        while first > start and chunk[first - 1] == "-":
            first -= 1
        return first
    m = _SUFFIX.search(chunk, max(start, end - 3), end)
    return m.start() if m else None


def split_tokens(text: str) -> list[str]:
    """Word tokens with punctuation split off as tokens of its own (see the comment above)."""
    out: list[str] = []
    for chunk in text.split():
        if chunk.isalnum() or _WHOLE.fullmatch(chunk):
            out.append(chunk)
            continue
        start, end = 0, len(chunk)
        while (m := _PREFIX.match(chunk, start)) and m.end() < end:
            out.append(m.group())
            start = m.end()
        tail: list[str] = []
        while (cut := _suffix_start(chunk, start, end)) is not None and cut > start:
            tail.append(chunk[cut:end])
            end = cut
        out.extend(p for p in _INFIX.split(chunk[start:end]) if p)
        out.extend(reversed(tail))
    return out
