"""FineWeb's own quality rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3)."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from curation.ops.base import Filter, register
from curation.ops.rowwise import evaluate_text_rows

STOP_CHARS = (".", "'", '"', "!", "?", ":", ";", ")", "”", "’", "…")


@register("fineweb_quality")
@dataclasses.dataclass
class FineWebQuality(Filter):
    """FineWeb rules: few lines ending in punctuation, many short lines, duplicated lines, list-like documents.

    Drops when the fraction of lines ending in punctuation is <= `line_punct_thr` (0.12, rule
    `line_punct_ratio`), lines of <= `short_line_length` (30) chars are > `short_line_thr` (0.67,
    `short_line_ratio`), characters in duplicated lines are > `char_duplicates_ratio` (0.01,
    `char_dup_ratio`), or newlines per word are > `new_line_ratio` (0.3, `list_ratio`).
    """

    requires = ("text",)
    provides = ("fineweb_line_punct_ratio",)

    line_punct_thr: float = 0.12
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3

    def _check(self, text: str) -> tuple[dict[str, float], str | None]:
        doc_lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
        if not doc_lines:
            return {}, "empty"
        punct = sum(ln.endswith(STOP_CHARS) for ln in doc_lines) / len(doc_lines)
        scores = {"fineweb_line_punct_ratio": punct}
        if punct <= self.line_punct_thr:
            return scores, "line_punct_ratio"
        if sum(len(ln) <= self.short_line_length for ln in doc_lines) / len(doc_lines) > self.short_line_thr:
            return scores, "short_line_ratio"
        seen: set[str] = set()
        dup_chars = 0
        for ln in doc_lines:
            if ln in seen:
                dup_chars += len(ln)
            seen.add(ln)
        if dup_chars / max(1, len(text.replace("\n", ""))) > self.char_duplicates_ratio:
            return scores, "char_dup_ratio"
        if text.count("\n") / max(1, len(text.split())) > self.new_line_ratio:
            return scores, "list_ratio"
        return scores, None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        return evaluate_text_rows(batch, "text", self._check, {"fineweb_line_punct_ratio": pa.float32()})
