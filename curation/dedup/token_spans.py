"""Token boundaries of a text, and the byte spans of its windows of `k` consecutive tokens (for `substring_dedup`).

Two tokenisations: GPT-2's pre-tokenisation (the regex its byte-level BPE splits text with before merging, so
every pre-token is one or more GPT-2 tokens), which needs no vocabulary; or a Hugging Face `tokenizers` model
named by path or hub name (`gpt2`), whose tokens are what Lee et al. (2022) count. One change to GPT-2's regex:
every character of a script written without spaces (Chinese, Japanese, Thai, ...) is a pre-token of its own,
where GPT-2's keeps a whole run of them (a sentence, or a paragraph) as one; GPT-2 encodes most such characters
in one to three byte-level tokens, so a span of 50 of them is about 50 GPT-2 tokens or more.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

import numpy as np
import regex

from curation.text.words import UNSPACED_SCRIPTS

# GPT-2's pre-tokenisation: contractions, letters, digits and other symbols (each with an optional leading space),
# and runs of white space. Every character falls in one match, so the matches tile the text.
_PRETOKEN = regex.compile(r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
# the same, with a character of an unspaced script alone (slower: only for texts that have one)
_UNSPACED_CHAR = regex.compile(f"[{UNSPACED_SCRIPTS}]")
_PRETOKEN_UNSPACED = regex.compile(
    rf"""'(?:[sdmt]|ll|ve|re)| ?[{UNSPACED_SCRIPTS}]| ?[\p{{L}}--[{UNSPACED_SCRIPTS}]]+| ?\p{{N}}+"""
    r"""| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    flags=regex.V1,  # for the set difference
)


class Tokenizer(Protocol):
    """A text's token boundaries, as character offsets from 0 to its length."""

    def __call__(self, text: str) -> np.ndarray: ...


def pretoken_bounds(text: str) -> np.ndarray:
    """Character offsets [0, end_1, ..., len(text)] of GPT-2's pre-tokens: token i is text[b[i]:b[i + 1]]."""
    unspaced = not text.isascii() and _UNSPACED_CHAR.search(text) is not None
    pattern = _PRETOKEN_UNSPACED if unspaced else _PRETOKEN
    lengths = np.fromiter(map(len, pattern.findall(text)), dtype=np.int64)  # the matches tile the text
    bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    return bounds


@functools.lru_cache(maxsize=4)
def _hf_tokenizer(name_or_path: str):  # noqa: ANN202  (tokenizers is an optional dependency)
    try:
        from tokenizers import Tokenizer as HfTokenizer
    except ImportError as e:
        raise ImportError("substring_dedup `tokenizer:` needs the `tokenizers` package (train extra)") from e
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return HfTokenizer.from_file(str(path))
    if path.exists() or path.is_absolute() or name_or_path.startswith((".", "~")):
        raise FileNotFoundError(f"substring_dedup: no tokenizer.json at {path}")
    return HfTokenizer.from_pretrained(name_or_path)


def hf_bounds(name_or_path: str, text: str) -> np.ndarray:
    """Character offsets of the token boundaries of a `tokenizers` model (special tokens left out).

    A byte-level token inside a multi-byte character has the character's offsets; boundaries are deduplicated,
    so windows always start and end on characters.
    """
    encoding = _hf_tokenizer(name_or_path).encode(text, add_special_tokens=False)
    starts = [start for start, end in encoding.offsets if end > start]
    return (
        np.unique(np.asarray([0, *starts[1:], len(text)], dtype=np.int64)) if text else np.zeros(1, np.int64)
    )


def tokenizer_for(name_or_path: str | None) -> Tokenizer:
    """The boundary function for `tokenizer:` (None: GPT-2 pre-tokens)."""
    if name_or_path is None:
        return pretoken_bounds
    return functools.partial(hf_bounds, name_or_path)


def byte_offsets(text: str, chars: np.ndarray) -> np.ndarray:
    """The UTF-8 byte offsets of character offsets `chars` of `text`."""
    if text.isascii():
        return chars
    code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    widths = 1 + (code_points >= 0x80) + (code_points >= 0x800) + (code_points >= 0x10000)
    return np.concatenate(([0], np.cumsum(widths)))[chars]


def window_spans(bounds: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) offsets of every window of `k` consecutive tokens; none when the text has fewer."""
    n = len(bounds) - 1
    if n < k:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    return bounds[: n - k + 1], bounds[k:]
