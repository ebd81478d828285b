"""Caption filters for image-text pairs (DataComp basic filtering and common alt-text junk rules)."""

from __future__ import annotations

import dataclasses
import re

import pyarrow as pa

from curation.ops.base import AT_LEAST_0, FRACTION, Filter, register
from curation.ops.rowwise import evaluate_text_rows

_URL_LIKE = re.compile(r"^\s*(https?://|www\.)\S+\s*$", re.IGNORECASE)
_FILE_NAME = re.compile(r"^\s*[\w\-. ]+\.(jpe?g|png|gif|webp|bmp|tiff?|svg)\s*$", re.IGNORECASE)


@register("caption_filter")
@dataclasses.dataclass
class CaptionFilter(Filter):
    """Drop pairs whose caption is too short, a URL or a file name, or mostly special characters.

    Defaults are DataComp's basic filter: more than 2 words (`min_words` 3) and more than 5 characters
    (`min_chars` 6). Rules: `min_words`, `min_chars`, `max_words` (0 = none), `url_caption`, `file_name_caption`,
    `special_char_ratio` (share of characters that are neither letters, digits nor spaces, above
    `max_special_char_ratio` 0.3). Writes `caption_words`.
    """

    requires = ("{column}",)
    provides = ("caption_words",)

    ranges = {
        "min_words": AT_LEAST_0,
        "min_chars": AT_LEAST_0,
        "max_words": AT_LEAST_0,
        "max_special_char_ratio": FRACTION,
    }

    column: str = "caption"
    min_words: int = 3
    min_chars: int = 6
    max_words: int = 0
    max_special_char_ratio: float = 0.3

    def _check(self, caption: str) -> tuple[dict[str, float], str | None]:
        words = caption.split()
        scores = {"caption_words": len(words)}
        stripped = caption.strip()
        if _URL_LIKE.match(stripped):
            return scores, "url_caption"
        if _FILE_NAME.match(stripped):
            return scores, "file_name_caption"
        if len(words) < self.min_words:
            return scores, "min_words"
        if len(stripped) < self.min_chars:
            return scores, "min_chars"
        if self.max_words and len(words) > self.max_words:
            return scores, "max_words"
        special = sum(not (c.isalnum() or c.isspace()) for c in stripped)
        if special / len(stripped) > self.max_special_char_ratio:
            return scores, "special_char_ratio"
        return scores, None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        return evaluate_text_rows(batch, self.column, self._check, {"caption_words": pa.int32()})
