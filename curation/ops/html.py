"""HTML -> main text, with charset sniffing (valid UTF-8, then the HTTP header, then `<meta>`, then detection)."""

from __future__ import annotations

import dataclasses
import re

import pyarrow as pa

from curation.ops.base import (
    AT_LEAST_0,
    ERROR,
    FRACTION,
    NOTE,
    POSITIVE,
    Filter,
    register,
    set_column,
    with_drop,
)
from curation.ops.html_guard import (
    DEPTH_CHECK_TAGS,
    UNCLOSED_CHECK_TAGS,
    TimeBudgetExceeded,
    deeper_than,
    time_budget,
    unclosed_formatting,
)

ENGINES = ("resiliparse", "trafilatura", "blocks")
_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml", "text/xml")
_TEXT_TYPES = ("text/plain",)  # WET conversion records
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")  # UTF-8, UTF-16 LE and BE byte-order marks


def looks_like_html(payload: bytes) -> bool:
    """Whether a record without a content type is HTML: its first non-blank character, after a byte-order mark
    (UTF-8 or UTF-16), is `<`."""
    if payload.startswith(_BOMS[1:]):
        payload = payload[2:4096].replace(b"\x00", b"")
    return payload.removeprefix(_BOMS[0]).lstrip()[:1] == b"<"


def _utf8_source(payload: bytes, html: str, used: str) -> str | bytes:
    """What the `blocks` engine parses: the payload's own bytes where `html` was decoded from them as UTF-8 (they
    are its UTF-8, so nothing is encoded again), without a byte-order mark; else `html`."""
    return payload.removeprefix(_BOMS[0]) if used == "utf-8" else html


def _tidy(text: str) -> str:
    """Runs of blank lines as one line break, no leading or trailing whitespace."""
    return _BLANK_LINES.sub("\n", text).strip()


def decode_html(payload: bytes, header_charset: str | None) -> tuple[str, str]:
    """Decode page bytes: by their byte-order mark where they start with one, else UTF-8 when they are valid UTF-8
    with a non-ASCII byte, else the HTTP charset when Python knows it, else `<meta charset>`, else detection.

    Valid UTF-8 wins over what the page declares: text in a legacy encoding is almost never valid UTF-8, while
    UTF-8 pages that declare latin-1 (a server's default) or nothing, which detection can take for cp1252, occur.
    """
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    for bom, encoding in zip(_BOMS, ("utf-8", "utf-16-le", "utf-16-be"), strict=True):
        if payload.startswith(bom):  # a byte-order mark decides, as browsers read it; it is not text
            try:
                return payload[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError:
                break
    if not payload.isascii():
        try:
            return payload.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    candidates = []
    if header_charset:
        candidates.append(header_charset.strip().strip("'\"").lower())
    candidates.append(detect_encoding(payload, from_html_meta=True))
    for enc in candidates:
        try:
            return payload.decode(enc), enc
        except (LookupError, UnicodeDecodeError):
            continue
    return bytes_to_str(payload, detect_encoding(payload)), "detected"


def _extract_resiliparse(tree: object, comments: bool, post_meta: bool) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    # alt_texts=False and post_meta=False (bylines, dates, tag lists; the op's default) were chosen on the tuning
    # half of the visible gold and hold on its reporting half (benchmarks/RESULTS.md, "Extraction split by site")
    return extract_plain_text(
        tree, main_content=True, alt_texts=False, comments=comments, post_meta=post_meta
    )


def _extract_trafilatura(html: str, comments: bool, favor_precision: bool) -> str:
    import trafilatura

    return (
        trafilatura.extract(
            html, include_comments=comments, include_tables=True, favor_precision=favor_precision
        )
        or ""
    )


@register("html_extract")
@dataclasses.dataclass
class HtmlExtract(Filter):
    """Extract the main text of HTML pages into `text`; WET (text/plain) payloads pass through decoded.

    `engine`: `resiliparse` (default, fastest), `trafilatura` (slowest) or `blocks`, a two-stage gradient-boosted
    block classifier over the page's DOM, shipped in the package and trained on the visible gold and on old crawl
    pages labelled here (curation/ops/html_blocks.py; about 6x trafilatura's pages per CPU-second). F1, speed and how
    each engine holds on pages and benchmarks it never saw: benchmarks/RESULTS.md, "Text quality" onwards.
    `comments` (false): keep reader comment sections. A deliberate choice, not a tuned one: comments are
    user-generated and repeat across a site's pages, and FineWeb's extraction leaves them out; some benchmarks
    count them as main text. With `blocks`, whose model learned to leave them out, `comments: true` adds the
    blocks under half link text of elements whose class/id names a comment section (author-and-date lines
    included), except those inside the comment box's form.
    `post_meta` (false; `resiliparse` and `blocks`): keep the article's headline, byline, date and lead, which
    AEB's gold and trafilatura's text leave out and gold of other conventions counts (benchmarks/RESULTS.md,
    "`post_meta: true`"). With `blocks`, the `h1` just before the kept text and the short lines between them
    (curation.ops.html_blocks.article_header); with `resiliparse`, its own `post_meta` (bylines, dates, tags).
    `favor_precision` (false; `engine: trafilatura` only): trafilatura's option for less text and fewer
    boilerplate lines, FineWeb's setting. `blocks_model`: a model file of the shipped one's format
    (benchmarks/extraction_blocks.py writes them) instead of the shipped one.
    Fallbacks, chosen on the tuning half of the visible gold: with `blocks`, where it keeps at most
    `blocks_fallback_chars` (1200) characters and under `blocks_fallback_share` (0.6) of what `resiliparse` keeps,
    the text is resiliparse's (`blocks_fallback_share: 0` turns it off); with `resiliparse`, where it keeps at
    most `resiliparse_fallback_chars` (500), and with `trafilatura`, where it keeps at most
    `trafilatura_fallback_chars` (100; a page whose text trafilatura takes all for comments, as a forum thread),
    and `blocks` keeps more, the text is blocks' (`null` turns either off).
    Rows whose text came from the fallback count in the step's notes (`fell_back_to_blocks` /
    `fell_back_to_resiliparse`); `engine_column` also writes, per row, the engine whose text it holds (null where
    no HTML was extracted).
    Drops `unsupported_content_type` (images, scripts, ...) and `empty_text` (under `min_chars`). Writes `charset`
    (the encoding used). `keep_payload: false` removes the raw bytes after extraction.

    Guards (a page over them is dropped, not extracted): `max_html_bytes`; `max_depth` (element nesting, checked
    on pages of over 3,000 tags; `blocks`' lxml parser caps nesting at 255 levels, so a deeper page keeps
    `blocks`' text instead of the fallback) and `max_unclosed_tags` (unclosed formatting tags, which make HTML
    parsing quadratic; pages of over 20,000 tags); `max_seconds` per page (over it: an `extract_timeout` error).
    """

    requires = ("payload", "content_type", "http_charset")
    provides = ("text", "charset", "{engine_column}")

    ranges = {
        "blocks_fallback_chars": AT_LEAST_0,
        "blocks_fallback_share": FRACTION,
        "resiliparse_fallback_chars": AT_LEAST_0,
        "trafilatura_fallback_chars": AT_LEAST_0,
        "min_chars": AT_LEAST_0,
        "max_html_bytes": POSITIVE,
        "max_depth": POSITIVE,
        "max_unclosed_tags": AT_LEAST_0,
        "max_seconds": AT_LEAST_0,
    }

    engine: str = "resiliparse"
    comments: bool = False
    post_meta: bool = False
    favor_precision: bool = False
    blocks_model: str | None = None
    blocks_fallback_chars: int = 1200
    blocks_fallback_share: float = 0.6
    resiliparse_fallback_chars: int | None = 500
    trafilatura_fallback_chars: int | None = 100
    engine_column: str | None = None
    min_chars: int = 1
    keep_payload: bool = False
    max_html_bytes: int = 8 << 20
    max_depth: int = 512
    max_unclosed_tags: int = 2000
    max_seconds: float = 10.0

    def validate(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {list(ENGINES)}, got {self.engine!r}")
        if self.blocks_model is not None and self._fallback_chars() is None and self.engine != "blocks":
            raise ValueError(
                f"blocks_model needs engine: blocks, or a fallback to blocks ({self.engine}_fallback_chars), got "
                f"engine {self.engine!r} without one"
            )
        if self.post_meta and self.engine == "trafilatura":
            raise ValueError(
                "post_meta needs engine: resiliparse or blocks (trafilatura puts the headline and byline in its "
                "metadata, not in the text), got engine 'trafilatura'"
            )
        if self.favor_precision and self.engine != "trafilatura":
            raise ValueError(
                f"favor_precision is a trafilatura option: it needs engine: trafilatura, got {self.engine!r}"
            )
        for name in ("resiliparse_fallback_chars", "trafilatura_fallback_chars"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 or null, got {getattr(self, name)!r}")
        if self.blocks_fallback_chars < 0 or not 0 <= self.blocks_fallback_share <= 1:
            raise ValueError(
                "blocks_fallback_chars must be >= 0 and blocks_fallback_share in [0, 1], got "
                f"{self.blocks_fallback_chars!r} and {self.blocks_fallback_share!r}"
            )
        if self.engine_column in (*self.requires, "text", "charset"):
            raise ValueError(
                f"engine_column {self.engine_column!r} would overwrite a column the op reads or writes"
            )
        for name in ("max_html_bytes", "max_depth", "max_unclosed_tags", "max_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")

    def preflight(self) -> None:
        if self.blocks_model is not None:
            from curation.ops.html_blocks import load_model

            try:
                load_model(self.blocks_model)
            except (OSError, ValueError, KeyError) as e:
                raise ValueError(f"blocks_model {self.blocks_model!r} cannot be loaded: {e}") from e

    def _one(
        self, payload: bytes | None, ctype: str | None, charset: str | None
    ) -> tuple[str | None, str | None, str | None, str | None]:
        """(text, charset used, engine whose text it is, drop reason) of one record."""
        ctype = (ctype or "").split(";")[0].strip().lower()
        engine = None
        if payload is None:
            return None, None, None, "no_payload"
        if ctype in _TEXT_TYPES:
            text, used = decode_html(payload, charset)
            text = _tidy(text)
        elif ctype in _HTML_TYPES or (not ctype and looks_like_html(payload)):
            if len(payload) > self.max_html_bytes:
                return None, None, None, "html_too_large"
            html, used = decode_html(payload, charset)
            tags = html.count("<")
            if tags > UNCLOSED_CHECK_TAGS and unclosed_formatting(html) > self.max_unclosed_tags:
                return None, used, None, "html_too_many_unclosed_tags"
            if self.engine == "blocks":
                with time_budget(self.max_seconds):
                    text, engine = self._extract_blocks(html, _utf8_source(payload, html, used), tags)
            else:
                # trafilatura parses with lxml itself: resiliparse's tree only for the depth check
                tree = None
                if self.engine == "resiliparse" or tags > DEPTH_CHECK_TAGS:
                    tree = self._resiliparse_tree(html, tags)
                    if tree is None:
                        return None, used, None, "html_too_deep"
                engine = self.engine
                with time_budget(self.max_seconds):
                    if self.engine == "resiliparse":
                        text = _tidy(_extract_resiliparse(tree, self.comments, self.post_meta))
                    else:
                        text = _tidy(_extract_trafilatura(html, self.comments, self.favor_precision))
                    limit = self._fallback_chars()
                    if limit is not None and len(text) <= limit:
                        text, engine = self._blocks_where_longer(_utf8_source(payload, html, used), text)
        else:
            return None, None, None, "unsupported_content_type"
        return text, used, engine, "empty_text" if len(text) < self.min_chars else None

    def _extract_blocks(self, html: str, source: str | bytes, tags: int) -> tuple[str, str]:
        """(text, engine): `blocks`' text of `source` (`html`, or its UTF-8 bytes), or resiliparse's where `blocks`
        keeps at most `blocks_fallback_chars` characters and under `blocks_fallback_share` of what resiliparse
        keeps (the model missed the main text)."""
        # lxml's parser caps nesting at 255 levels: no depth check before `blocks`
        text = self._blocks_text(source)
        if len(text) > self.blocks_fallback_chars or not self.blocks_fallback_share:
            return text, "blocks"
        tree = self._resiliparse_tree(html, tags)
        if tree is None:
            return text, "blocks"
        other = _tidy(_extract_resiliparse(tree, self.comments, self.post_meta))
        return (
            (other, "resiliparse")
            if len(text) < self.blocks_fallback_share * len(other)
            else (text, "blocks")
        )

    def _resiliparse_tree(self, html: str, tags: int) -> object | None:
        """resiliparse's tree of `html` (`tags`: its count of `<`), or None where it nests deeper than `max_depth`
        (checked on pages of over `DEPTH_CHECK_TAGS` tags)."""
        from resiliparse.parse.html import HTMLTree

        tree = HTMLTree.parse(html)
        return None if tags > DEPTH_CHECK_TAGS and deeper_than(tree, self.max_depth) else tree

    def _fallback_chars(self) -> int | None:
        """The `resiliparse` or `trafilatura` engine's fallback length (None: none, or `engine: blocks`)."""
        return {
            "resiliparse": self.resiliparse_fallback_chars,
            "trafilatura": self.trafilatura_fallback_chars,
        }.get(self.engine)

    def _blocks_where_longer(self, source: str | bytes, text: str) -> tuple[str, str]:
        """(text, engine): `blocks`' text of `source` (the page, or its UTF-8 bytes) where it keeps more than the
        engine's short `text` (its main-content rules found little or nothing), else `text`."""
        other = self._blocks_text(source)
        return (other, "blocks") if len(other) > len(text) else (text, self.engine)

    def _blocks_text(self, html: str | bytes) -> str:
        """The `blocks` engine's tidied text of `html` (or its UTF-8 bytes), with `blocks_model` (the shipped
        model when None)."""
        from curation.ops.html_blocks import extract_blocks, load_model

        return _tidy(extract_blocks(html, load_model(self.blocks_model), self.comments, self.post_meta))

    def evaluate(self, batch: pa.Table) -> pa.Table:
        texts, charsets, engines, reasons, errors = [], [], [], [], []
        for payload, ctype, charset in zip(
            batch.column("payload").to_pylist(),
            batch.column("content_type").to_pylist(),
            batch.column("http_charset").to_pylist(),
            strict=True,
        ):
            try:
                text, used, engine, reason = self._one(payload, ctype, charset)
                error = None
            except TimeBudgetExceeded:
                text, used, engine, reason, error = None, None, None, None, "extract_timeout"
            except Exception as exc:  # a parser failure is this page's error, not the batch's
                text, used, engine, reason, error = None, None, None, None, f"{type(exc).__name__}"
            texts.append(text)
            charsets.append(used)
            engines.append(engine)
            reasons.append(reason)
            errors.append(error)
        batch = set_column(batch, "text", pa.array(texts, type=pa.string()))
        batch = set_column(batch, "charset", pa.array(charsets, type=pa.string()))
        if self.engine_column:
            batch = set_column(batch, self.engine_column, pa.array(engines, type=pa.string()))
        if not self.keep_payload:
            batch = batch.drop_columns(["payload"])
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, type=pa.string()))
        notes = [f"fell_back_to_{e}" if e is not None and e != self.engine else None for e in engines]
        if any(notes):
            batch = set_column(batch, NOTE, pa.array(notes, type=pa.string()))
        return with_drop(batch, reasons)
