"""FineWeb's own quality rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3)."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from curation.ops.base import AT_LEAST_0, FRACTION, Filter, register
from curation.ops.gopher import _repeats
from curation.ops.rowwise import evaluate_text_rows
from curation.text.punct import SENTENCE_TERMINALS
from curation.text.words import split_tokens


@register("fineweb_quality")
@dataclasses.dataclass
class FineWebQuality(Filter):
    """FineWeb rules: few lines ending in punctuation, many short lines, duplicated lines, list-like documents.

    Drops when the fraction of non-blank lines ending in a sentence terminal (Unicode `Sentence_Terminal`:
    . ! ? and other scripts' full stops) is < `line_punct_thr` (0.12, rule `line_punct_ratio`), lines of
    <= `short_line_length` (30) chars are > `short_line_thr` (0.67, `short_line_ratio`), characters in repeated
    lines (from the second occurrence) are > `char_duplicates_ratio` (0.01, `char_dup_ratio`) of the text's
    characters other than newlines, or newlines per word (punctuation-split tokens) are > `new_line_ratio`
    (0.3, `list_ratio`).
    """

    requires = ("text",)
    provides = ("fineweb_line_punct_ratio",)

    ranges = {
        "line_punct_thr": FRACTION,
        "short_line_thr": FRACTION,
        "short_line_length": AT_LEAST_0,
        "char_duplicates_ratio": FRACTION,
        "new_line_ratio": AT_LEAST_0,
    }

    line_punct_thr: float = 0.12
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3

    def _check(self, text: str) -> tuple[dict[str, float], str | None]:
        doc_lines = [ln for ln in text.split("\n") if ln.strip()]
        if not doc_lines:
            return {}, "empty"
        punct = sum(ln.endswith(SENTENCE_TERMINALS) for ln in doc_lines) / len(doc_lines)
        scores = {"fineweb_line_punct_ratio": punct}
        if punct < self.line_punct_thr:
            return scores, "line_punct_ratio"
        if sum(len(ln) <= self.short_line_length for ln in doc_lines) / len(doc_lines) > self.short_line_thr:
            return scores, "short_line_ratio"
        if _repeats(doc_lines)[1] / max(1, len(text) - text.count("\n")) > self.char_duplicates_ratio:
            return scores, "char_dup_ratio"
        if text.count("\n") / max(1, len(split_tokens(text))) > self.new_line_ratio:
            return scores, "list_ratio"
        return scores, None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        return evaluate_text_rows(batch, "text", self._check, {"fineweb_line_punct_ratio": pa.float32()})
