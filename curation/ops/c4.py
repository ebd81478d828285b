"""C4 cleaning (Raffel et al. 2020, section 2.2): line-level cleaning plus document drops."""

from __future__ import annotations

import dataclasses
import re

import pyarrow as pa

from curation.ops.base import AT_LEAST_0, ERROR, POSITIVE, Filter, register, set_column, with_drop

TERMINAL_PUNCT = (".", "?", "!", '"', "'", "”", "’")
ELLIPSIS = "..."  # ends in a period, yet marks an unfinished line: C4's code drops it
POLICY_PHRASES = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’]?(?:\s|$)")


@register("c4_quality")
@dataclasses.dataclass
class C4Quality(Filter):
    """C4 line cleaning and document rules; rewrites `text` to the kept lines.

    Lines are removed when they do not end in terminal punctuation or end in an ellipsis
    (`filter_no_terminal_punct`), have fewer than `min_words_per_line` (3)
    words, mention javascript, a cookie/terms policy, or hold a word longer than `max_word_length`. Citation
    markers are removed. Documents are dropped for `lorem_ipsum`, `curly_bracket`, or fewer than
    `min_sentences` (5) sentences left (`too_few_sentences`; a kept line is at least one sentence).
    """

    requires = ("text",)
    provides = ("text",)

    ranges = {"min_sentences": AT_LEAST_0, "min_words_per_line": AT_LEAST_0, "max_word_length": POSITIVE}

    min_sentences: int = 5
    filter_no_terminal_punct: bool = True
    min_words_per_line: int = 3
    max_word_length: int = 1000
    remove_citations: bool = True
    filter_javascript: bool = True
    filter_policy: bool = True
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = True

    def _keep_line(self, line: str) -> bool:
        lower = line.lower()
        if self.filter_no_terminal_punct and (not line.endswith(TERMINAL_PUNCT) or line.endswith(ELLIPSIS)):
            return False
        toks = line.split()
        if len(toks) < self.min_words_per_line or any(len(t) > self.max_word_length for t in toks):
            return False
        if self.filter_javascript and "javascript" in lower:
            return False
        return not (self.filter_policy and any(p in lower for p in POLICY_PHRASES))

    def _clean(self, text: str) -> tuple[str, str | None]:
        lower = text.lower()
        if self.filter_lorem_ipsum and "lorem ipsum" in lower:
            return text, "lorem_ipsum"
        if self.filter_curly_bracket and "{" in text:
            return text, "curly_bracket"
        kept = []
        for raw in text.split("\n"):
            line = _CITATION.sub("", raw).strip() if self.remove_citations else raw.strip()
            if line and self._keep_line(line):
                kept.append(line)
        cleaned = "\n".join(kept)
        if sum(max(1, len(_SENTENCE_END.findall(line))) for line in kept) < self.min_sentences:
            return cleaned, "too_few_sentences"
        return cleaned, None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        texts, reasons, errors = [], [], []
        for text in batch.column("text").to_pylist():
            if text is None:
                texts.append(None)
                reasons.append(None)
                errors.append("null_text")
                continue
            cleaned, reason = self._clean(text)
            texts.append(cleaned)
            reasons.append(reason)
            errors.append(None)
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, type=pa.string()))
        if not self.tag_only:
            batch = set_column(batch, "text", pa.array(texts, type=pa.string()))
        return with_drop(batch, reasons)
