"""WARC response -> interleaved document: text blocks and `<img>` nodes in DOM order.

The page is parsed with lxml's HTML parser (libxml2). Text is gathered in reading order and cut into a new text node at
every block-level element and at every image; whitespace is collapsed and empty nodes are left out. Each `<img>`
becomes an image placed before the text node that follows it (`text_index`), with its `src` (or `data-src`)
resolved against the page URL (or its `<base href>`) and its `alt` text. Image responses of the same crawl are
kept as resources for `attach_images`, which joins them to the documents on the normalised URL.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from urllib.parse import urljoin, urlsplit

import pyarrow as pa

from curation.interleave.document import DROPPED_IMAGES, IMAGES
from curation.io.interleaved import image
from curation.ops.base import Filter, register
from curation.ops.html import decode_html, looks_like_html
from curation.ops.html_walk import BLOCK_TAGS, SKIP_TAGS
from curation.rows import ERROR, set_column, with_drop

HTML_TYPES = ("text/html", "application/xhtml+xml")
_SPACE = re.compile(r"\s+")
RESOURCE = "payload"  # image responses keep their bytes here until `attach_images` consumes them


def _src(node) -> str | None:  # noqa: ANN001 - lxml element
    for attr in ("src", "data-src", "data-original"):
        value = (node.get(attr) or "").strip()
        if value:
            return value
    return None


def _image_problem(url: str | None) -> str | None:
    if url is None:
        return "no_src"
    scheme = urlsplit(url).scheme.lower()
    if scheme == "data":
        return "inline_data_uri"
    if scheme not in ("http", "https"):
        return "unsupported_scheme"
    return None


class _Walker:
    """Collects text nodes and images of one page in DOM order."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.texts: list[str] = []
        self.images: list[dict] = []
        self.dropped: list[dict] = []
        self._buffer: list[str] = []

    def flush(self) -> None:
        if not self._buffer:
            return
        text = _SPACE.sub(" ", "".join(self._buffer)).strip()
        self._buffer = []
        if text:
            self.texts.append(text)

    def add_text(self, text: str | None) -> None:
        if text:
            self._buffer.append(text)

    def add_image(self, node) -> None:  # noqa: ANN001 - lxml element
        self.flush()
        src = _src(node)
        url = urljoin(self.base, src) if src and not src.lower().startswith("data:") else src
        problem = _image_problem(url)
        if problem:
            self.dropped.append({"url": (url or "")[:200] or None, "reason": f"html_interleave:{problem}"})
            return
        alt = _SPACE.sub(" ", node.get("alt") or "").strip() or None
        self.images.append(image(url, alt=alt, text_index=len(self.texts)))

    def walk(self, node) -> None:  # noqa: ANN001 - lxml element
        tag = node.tag if isinstance(node.tag, str) else None  # comments and processing instructions: no tag
        if tag is not None:
            tag = tag.lower()
            if tag == "img":
                self.add_image(node)
            elif tag not in SKIP_TAGS:
                block = tag in BLOCK_TAGS
                if block:
                    self.flush()
                self.add_text(node.text)
                for child in node:
                    self.walk(child)
                    self.add_text(child.tail)
                if block:
                    self.flush()


@functools.cache
def _parser():  # noqa: ANN202 - lxml parser
    """lxml's HTML parser with plain elements (no lxml.html class lookup per node), reading UTF-8 bytes."""
    from lxml import etree

    return etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)


def html_to_document(html: str, page_url: str) -> tuple[list[str], list[dict], list[dict]]:
    """(texts, images, dropped images) of one HTML page in DOM order."""
    from lxml import etree

    # as UTF-8 bytes: lxml refuses a str that opens with an XML declaration naming an encoding (XHTML pages)
    root = etree.fromstring(html.encode("utf-8", "replace"), _parser())
    if root is None:
        return [], [], []
    base = page_url
    for node in root.iter("base"):
        if node.get("href"):
            base = urljoin(page_url, node.get("href").strip())
            break
    walker = _Walker(base)
    walker.walk(root)
    walker.flush()
    # an image after the last text stands at len(texts); images point at the next text node
    return walker.texts, walker.images, walker.dropped


@register("html_interleave")
@dataclasses.dataclass
class HtmlInterleave(Filter):
    """WARC responses -> interleaved documents (OBELICS-style extraction in DOM order).

    HTML pages become documents (`doc_id` = WARC record id, `texts`, `images` with resolved `url` and `alt`);
    image responses (`image/*`) stay as resource rows for `attach_images`; other content types are dropped
    (`unsupported_content_type`), as are pages without any text (`no_text`). Images that cannot be fetched from
    the crawl (`no_src`, `inline_data_uri`, `unsupported_scheme`) go to `dropped_images`.
    """

    requires = ("id", "url", "payload", "content_type", "http_charset")
    provides = ("doc_id", "texts", "images", "dropped_images", "payload", "content_type")

    def _page(self, payload: bytes, charset: str | None, url: str) -> tuple[list, list, list]:
        html, _ = decode_html(payload, charset)
        if not html.strip():
            return [], [], []
        return html_to_document(html, url or "")

    def evaluate(self, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        texts: list = [None] * n
        images: list = [None] * n
        dropped: list = [[] for _ in range(n)]
        keep_payload: list = [None] * n
        reasons: list = [None] * n
        errors: list = [None] * n
        columns = zip(
            batch.column("payload").to_pylist(),
            batch.column("content_type").to_pylist(),
            batch.column("http_charset").to_pylist(),
            batch.column("url").to_pylist(),
            strict=True,
        )
        for i, (payload, ctype, charset, url) in enumerate(columns):
            ctype = (ctype or "").split(";")[0].strip().lower()
            if not payload:
                reasons[i] = "no_payload"
            elif ctype.startswith("image/"):
                keep_payload[i] = payload
            elif ctype in HTML_TYPES or (not ctype and looks_like_html(payload)):
                try:
                    texts[i], images[i], dropped[i] = self._page(payload, charset, url)
                except Exception as exc:  # a parser failure is this page's error, not the batch's
                    errors[i] = f"html:{type(exc).__name__}"
                    continue
                if not texts[i]:
                    reasons[i] = "no_text"
            else:
                reasons[i] = "unsupported_content_type"
        batch = set_column(batch, "doc_id", batch.column("id"))
        batch = set_column(batch, "texts", pa.array(texts, pa.list_(pa.string())))
        batch = set_column(batch, "images", pa.array(images, IMAGES))
        batch = set_column(batch, "dropped_images", pa.array(dropped, DROPPED_IMAGES))
        batch = set_column(batch, RESOURCE, pa.array(keep_payload, pa.binary()))
        batch = batch.drop_columns([c for c in ("id", "http_charset") if c in batch.column_names])
        if any(errors):
            batch = set_column(batch, ERROR, pa.array(errors, pa.string()))
        return with_drop(batch, reasons)
