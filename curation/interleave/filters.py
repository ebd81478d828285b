"""OBELICS-style node- and document-level filters for interleaved documents (defaults: the published values).

Thresholds are those of OBELICS's filtering configuration (Laurençon et al. 2023; huggingface/OBELICS
`obelisc/configs/config_filter_web_documents.yaml`): image format jpg / jpeg / png / webp, both sides 150-20,000
px, aspect ratio at most 2; text nodes of 4-1,000 words; documents with 1-30 images, 10-2,000 words and a fastText
language score of at least 0.8. Ratio rules (`text_quality`), node / document level: character 10-gram repetition
at most 0.1 / 0.1, word 5-gram repetition at most 0.1 / 0.2, special characters at most 0.3 / 0.275, stop words
at least 0.3 / 0.35, flagged words at most 0.01 / 0.01, punctuation at least 0.001 (texts of 12 or more tokens) /
0.03. Not implemented: the common-word ratio (a word list built from OBELICS's corpus) and the KenLM perplexity
(at most 1,500; needs model weights that cannot be downloaded here).
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from curation.interleave.document import IMAGES, split_images
from curation.interleave.text_quality import TextRules, word_list
from curation.models import FASTTEXT_LID, load_fasttext
from curation.ops.base import AT_LEAST_0, FRACTION, POSITIVE, Filter, Mapper, register
from curation.ops.image_codec import open_image
from curation.rows import set_column, with_drop

_LABEL = "__label__"
_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}


def _words(text: str) -> int:
    return len(text.split())


# the ratio rules' cutoff parameters, in TextRules' order
RATIO_CUTOFFS = (
    "max_character_repetition", "max_word_repetition", "max_special_characters", "min_stopwords",
    "max_flagged_words", "min_punctuation",
)  # fmt: skip


# the bounds of RatioRuleSettings' parameters, for the `ranges` of the ops that take them
RATIO_RULE_RANGES = {**dict.fromkeys(RATIO_CUTOFFS, FRACTION), "min_punctuation_tokens": AT_LEAST_0}


@dataclasses.dataclass
class RatioRuleSettings:
    """The parameters of OBELICS's ratio rules that both text filters take: cutoffs (null: not checked), the
    punctuation rule's minimum token count and the word lists; the defaults are the node-level values."""

    max_character_repetition: float | None = 0.1
    max_word_repetition: float | None = 0.1
    max_special_characters: float | None = 0.3
    min_stopwords: float | None = 0.3
    max_flagged_words: float | None = 0.01
    min_punctuation: float | None = 0.001
    min_punctuation_tokens: int = 12
    stopwords: str = "stopwords"
    flagged_words: str = "flagged"

    def text_rules(self) -> TextRules:
        """The rules with these settings; a cutoff outside [0, 1] or a word-list file that does not exist is a
        ValueError."""
        cutoffs = [getattr(self, name) for name in RATIO_CUTOFFS]
        for name, value in zip(RATIO_CUTOFFS, cutoffs, strict=True):
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} is a ratio: it must be in [0, 1] (or null)")
        return TextRules(
            *cutoffs,
            self.min_punctuation_tokens,
            word_list(self.stopwords) if self.min_stopwords is not None else frozenset(),
            word_list(self.flagged_words) if self.max_flagged_words is not None else frozenset(),
        )


@register("interleaved_image_filter")
@dataclasses.dataclass
class InterleavedImageFilter(Mapper):
    """Node-level image rules: drop each image that fails into `dropped_images` (the document stays).

    Width and height come from the image header (written into the image's `width` / `height`) when the image
    has bytes, else from its `width` / `height` fields. Rules: `no_bytes` (with `require_bytes`), `image:<why>`
    (not a readable image), `format`, `min_side`, `max_side`, `aspect_ratio` (max(w,h)/min(w,h)).
    """

    requires = ("images",)
    provides = ("images", "dropped_images")

    ranges = {
        "min_side": AT_LEAST_0,
        "max_side": AT_LEAST_0,
        "max_aspect_ratio": AT_LEAST_0,
        "max_pixels": POSITIVE,
    }

    formats: list[str] = dataclasses.field(default_factory=lambda: ["jpeg", "png", "webp"])
    min_side: int = 150
    max_side: int = 20_000
    max_aspect_ratio: float = 2.0
    require_bytes: bool = True
    max_pixels: int = 89_478_485

    def validate(self) -> None:
        if self.max_aspect_ratio < 1:
            raise ValueError("max_aspect_ratio is max(w,h)/min(w,h) and must be >= 1")

    def _check(self, img: dict) -> tuple[dict, str | None]:
        data = img.get("bytes")
        if data:
            try:
                opened, width, height = open_image(data, self.max_pixels)
            except ValueError as exc:
                return img, f"image:{exc}"
            img = img | {"width": width, "height": height}
            if (
                self.formats
                and _FORMATS.get(opened.format or "", (opened.format or "").lower()) not in self.formats
            ):
                return img, "format"
        elif self.require_bytes:
            return img, "no_bytes"
        width, height = img.get("width"), img.get("height")
        if width is None or height is None or min(width, height) < self.min_side:
            return img, "min_side"
        if max(width, height) > self.max_side:
            return img, "max_side"
        if max(width, height) / min(width, height) > self.max_aspect_ratio:
            return img, "aspect_ratio"
        return img, None

    def map(self, batch: pa.Table) -> pa.Table:
        out, keep, reasons = [], [], []
        for images in batch.column("images").to_pylist():
            checked = [self._check(img) for img in images or []]
            out.append([img for img, _ in checked])
            keep.append([why is None for _, why in checked])
            reasons.append([why for _, why in checked])
        batch = set_column(batch, "images", pa.array(out, IMAGES))
        return split_images(batch, keep, reasons, self.op_name)


@register("interleaved_text_filter")
@dataclasses.dataclass
class InterleavedTextFilter(RatioRuleSettings, Mapper):
    """Node-level text rules: remove text nodes outside 4-1,000 words or failing OBELICS's node ratio rules.

    Words: `min_words`-`max_words` (OBELICS: 4-1,000); ratio rules and cutoffs in the module docstring (a cutoff
    set to null is not checked).

    Images keep their place: an image that stood before a removed text now stands before the next kept one.
    Writes `dropped_texts` (text nodes removed from the document, added to any earlier count).
    `stopwords` / `flagged_words`: `stopwords` (spaCy's English list), `flagged` (explicit adult terms),
    `profanity` (better-profanity's broad list) or a file with one word per line (`text_quality.word_list`).
    """

    ranges = {
        **RATIO_RULE_RANGES,
        "min_words": AT_LEAST_0,
        "max_words": AT_LEAST_0,
    }

    requires = ("texts", "images")
    provides = ("texts", "images", "dropped_texts")

    min_words: int = 4
    max_words: int = 1_000

    def validate(self) -> None:
        self.text_rules()

    def setup(self) -> None:
        self._rules = self.text_rules()

    def _keep(self, text: str) -> bool:
        return self.min_words <= _words(text) <= self.max_words and self._rules.failed(text) is None

    def map(self, batch: pa.Table) -> pa.Table:
        texts_out, images_out, dropped = [], [], []
        before = (
            batch.column("dropped_texts").to_pylist()
            if "dropped_texts" in batch.column_names
            else [0] * batch.num_rows
        )
        for texts, images, earlier in zip(
            batch.column("texts").to_pylist(), batch.column("images").to_pylist(), before, strict=True
        ):
            texts = texts or []
            kept = [self._keep(t) for t in texts]
            new_index, count = [], 0
            for ok in kept:  # new_index[k]: kept texts before text k
                new_index.append(count)
                count += ok
            new_index.append(count)
            texts_out.append([t for t, ok in zip(texts, kept, strict=True) if ok])
            images_out.append(
                [img | {"text_index": new_index[min(img["text_index"], len(texts))]} if img["text_index"] is not None
                 else img for img in images or []]
            )  # fmt: skip
            dropped.append((earlier or 0) + len(texts) - count)
        batch = set_column(batch, "texts", pa.array(texts_out, pa.list_(pa.string())))
        batch = set_column(batch, "images", pa.array(images_out, IMAGES))
        return set_column(batch, "dropped_texts", pa.array(dropped, pa.int32()))


@register("interleaved_doc_filter")
@dataclasses.dataclass
class InterleavedDocFilter(RatioRuleSettings, Filter):
    """Document-level rules: number of images, number of words, language and quality of the whole text.

    Rules `too_few_images` / `too_many_images` (OBELICS: 1-30), `too_few_words` / `too_many_words` (10-2,000,
    whitespace words over all texts), `language` (top fastText language not in `lang`), `low_lang_score`
    (below `min_lang_score`, OBELICS 0.8), then OBELICS's document-level ratio rules on the texts joined by blank
    lines (module docstring): `character_repetition`, `word_repetition`, `special_characters`, `stopwords`,
    `flagged_words`, `punctuation`. A bound, cutoff or `lang` set to null is not checked. Writes `n_words` and,
    with `lang`, `lang` / `lang_score` columns. Word lists as in `interleaved_text_filter`.
    """

    requires = ("texts", "images")
    provides = ("n_words", "lang", "lang_score")

    ranges = {
        **RATIO_RULE_RANGES,
        "min_images": AT_LEAST_0,
        "max_images": AT_LEAST_0,
        "min_words": AT_LEAST_0,
        "max_words": AT_LEAST_0,
        "min_lang_score": FRACTION,
        "max_chars": POSITIVE,
    }

    min_images: int | None = 1
    max_images: int | None = 30
    min_words: int | None = 10
    max_words: int | None = 2_000
    lang: list[str] | None = dataclasses.field(default_factory=lambda: ["en"])
    min_lang_score: float = 0.8
    model: str = FASTTEXT_LID
    max_chars: int = 20_000
    # the document-level values of OBELICS's ratio rules (RatioRuleSettings holds the node-level ones)
    max_word_repetition: float | None = 0.2
    max_special_characters: float | None = 0.275
    min_stopwords: float | None = 0.35
    min_punctuation: float | None = 0.03
    min_punctuation_tokens: int = 0

    def validate(self) -> None:
        self.text_rules()

    def setup(self) -> None:
        self._model = load_fasttext(self.model) if self.lang is not None else None
        self._rules = self.text_rules()

    def _language(self, text: str) -> tuple[str, float]:
        labels, probs = self._model.predict(text[: self.max_chars].replace("\n", " "), k=1)
        return (labels[0][len(_LABEL) :] if labels else "unknown"), (float(probs[0]) if len(probs) else 0.0)

    def _reason(self, n_images: int, n_words: int, lang: str | None, score: float | None) -> str | None:
        checks = (
            (self.min_images is not None and n_images < self.min_images, "too_few_images"),
            (self.max_images is not None and n_images > self.max_images, "too_many_images"),
            (self.min_words is not None and n_words < self.min_words, "too_few_words"),
            (self.max_words is not None and n_words > self.max_words, "too_many_words"),
            (self.lang is not None and bool(self.lang) and lang not in self.lang, "language"),
            (self.lang is not None and score is not None and score < self.min_lang_score, "low_lang_score"),
        )
        return next((rule for failed, rule in checks if failed), None)

    def evaluate(self, batch: pa.Table) -> pa.Table:
        words, langs, scores, reasons = [], [], [], []
        for texts, images in zip(
            batch.column("texts").to_pylist(), batch.column("images").to_pylist(), strict=True
        ):
            text = "\n".join(texts or [])
            n_words = _words(text)
            lang, score = self._language(text) if self._model is not None else (None, None)
            words.append(n_words)
            langs.append(lang)
            scores.append(score)
            reasons.append(
                self._reason(len(images or []), n_words, lang, score)
                or self._rules.failed("\n\n".join(t for t in texts or [] if t))
            )
        batch = set_column(batch, "n_words", pa.array(words, pa.int32()))
        if self._model is not None:
            batch = set_column(batch, "lang", pa.array(langs, pa.string()))
            batch = set_column(batch, "lang_score", pa.array(scores, pa.float32()))
        return with_drop(batch, reasons)
