"""HTML page -> text blocks with their context, for the `blocks` extraction engine (curation.ops.html_blocks).

One pass over the lxml tree (compiled from curation/ops/_html_walk.pyx at install, with `walk` here as its
Python twin and fallback) cuts the page into blocks (text between block-level tag boundaries) and records per
block the context of the element that opened it: tag, depth, ancestor tags, class/id keyword groups of its
ancestors (comment, nav, footer, share, ...) and the sizes of its enclosing block elements; and the characters
each block and each keyworded element span, which tell the elements round one block from those round the whole
page (`PageBlocks.local_keywords`). Scripts, styles, forms and the like (SKIP_TAGS) and elements a browser does
not render (`hidden`) are left out.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np

from curation.ops.compiled import compiled_module

# block-level tags: a block boundary here and in interleaved documents (curation.interleave.extract)
BLOCK_TAGS = frozenset(
    [
        "p",
        "div",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "td",
        "th",
        "tr",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "caption",
        "article",
        "section",
        "main",
        "header",
        "footer",
        "nav",
        "aside",
        "blockquote",
        "pre",
        "form",
        "figure",
        "figcaption",
        "address",
        "center",
        "details",
        "summary",
        "hr",
        "br",
        "body",
        "fieldset",
        "legend",
        "menu",
        "noscript",
    ]
)
SKIP_TAGS = frozenset(
    [
        "script",
        "style",
        "template",
        "svg",
        "iframe",
        "head",
        "select",
        "option",
        "button",
        "input",
        "textarea",
        "canvas",
        "object",
        "embed",
        "map",
        "video",
        "audio",
        "math",
        "noscript",
        "title",
        "meta",
        "link",
    ]
)
# An element a browser does not render is left out like SKIP_TAGS: one with a `hidden` attribute, `aria-hidden="true"`
# or a style holding one of HIDING_STYLES (ASCII whitespace and case ignored); never `html` or `body`, which pages
# hide until their scripts run. Such text is not what a reader sees (schema.org copies of the article, menus kept
# for scripts); resiliparse's main-content extraction leaves it out too.
HIDING_STYLES = (b"display:none", b"visibility:hidden")
NEVER_HIDDEN = frozenset(["html", "body"])


def _flat(value: str) -> bytes:
    """`value` as UTF-8 without ASCII whitespace, ASCII letters lower-cased."""
    return b"".join(value.encode("utf-8").split()).lower()


def hidden(el) -> bool:
    """Whether the lxml element `el` is not rendered (its tag aside; see HIDING_STYLES)."""
    if el.get("hidden") is not None:
        return True
    aria, style = el.get("aria-hidden"), el.get("style")
    if aria is not None and _flat(aria) == b"true":
        return True
    return style is not None and any(pattern in _flat(style) for pattern in HIDING_STYLES)


# tags whose presence among the ancestors is a feature
ANCESTOR_TAGS = [
    "a",
    "li",
    "header",
    "footer",
    "nav",
    "aside",
    "article",
    "main",
    "form",
    "table",
    "blockquote",
    "figure",
    "h",
    "p",
    "dl",
    "section",
]
# class/id keyword groups; a substring hit in an ancestor's `class` or `id` sets the group's bit
KEYWORDS: dict[str, tuple[str, ...]] = {
    "comment": ("comment", "disqus", "repl", "respond", "discussion"),
    "nav": ("nav", "menu", "breadcrumb", "pagination", "pager", "toolbar", "skip"),
    "footer": ("footer", "copyright", "legal", "impressum", "imprint", "bottom"),
    "header": ("header", "masthead", "topbar", "banner", "logo", "brand"),
    "sidebar": ("sidebar", "side-bar", "aside", "widget", "rail", "column-right", "col-right"),
    "share": ("share", "social", "sharing", "facebook", "twitter", "print", "email", "whatsapp"),
    "related": ("related", "recommend", "more-", "popular", "trending", "teaser", "read-more", "readmore"),
    "ad": ("advert", "sponsor", "promo", "banner-ad", "ad-", "-ad", "ads", "dfp", "outbrain", "taboola"),
    "consent": ("cookie", "consent", "gdpr", "privacy", "modal", "popup", "overlay", "dialog"),
    "subscribe": ("newsletter", "subscribe", "signup", "sign-up", "login", "register", "paywall", "search"),
    "tags": ("tag", "categor", "topic", "keyword", "label"),
    "meta": ("author", "byline", "meta", "date", "time", "published", "posted", "info", "dateline"),
    "caption": ("caption", "credit", "figure", "image", "photo", "gallery", "media", "video", "slide"),
    "content": ("article", "content", "post", "entry", "story", "body", "text", "main", "prose", "blog"),
    "title": ("title", "headline", "heading", "h1"),
    "lead": ("lead", "intro", "summary", "teaser-text", "standfirst", "excerpt", "description", "subtitle"),
    "hidden": ("hidden", "hide", "visually", "sr-only", "screen-reader", "offscreen", "d-none"),
    "list": ("list", "item", "card", "grid", "tile"),
}
_KEYWORD_BITS = {kw: 1 << i for i, group in enumerate(KEYWORDS.values()) for kw in group}
# Words that, in the class/id of an element that also names a comment section, say it holds no reader comments: a
# "recent comments" widget (links to comments on other posts) or the comment box round the form (`respond`,
# `reply-title`: its "Leave a Reply" heading). They set NOT_COMMENTS_BIT, above the KEYWORDS bits, which block
# features do not read; on an element without the comment group's bit it is not set, so no element is keyworded
# by these words alone.
NOT_COMMENTS = ("recent", "latest", "respond", "reply-title")
NOT_COMMENTS_BIT = 1 << len(KEYWORDS)
COMMENT_BIT = 1 << list(KEYWORDS).index("comment")
_ANCESTOR_BITS = {t: 1 << i for i, t in enumerate(ANCESTOR_TAGS)}
for _h in ("h1", "h2", "h3", "h4", "h5", "h6"):
    _ANCESTOR_BITS[_h] = _ANCESTOR_BITS["h"]
_WORD = re.compile(r"\w")


NUMBERS = (
    "link_chars",
    "depth",
    "ancestors",  # ANCESTOR_TAGS bits
    "keywords",  # KEYWORDS bits over all ancestors
    "near_keywords",  # KEYWORDS bits of the 3 nearest ancestors with keywords
    "container1_chars",  # characters and linked characters of the 3 nearest block elements (0 where fewer)
    "container1_links",
    "container2_chars",
    "container2_links",
    "container3_chars",
    "container3_links",
)


# (first character, end character, own KEYWORDS bits) of each element whose class/id holds keywords
KeywordSpans = list[tuple[int, int, int]]


@dataclass(frozen=True)
class PageBlocks:
    """A page's text blocks in document order: each block's text, the tag of the element that opened it, its
    NUMBERS (link characters and that element's context) as one int row, the characters it spans in the page's
    text, and the page's keyworded elements (KeywordSpans)."""

    texts: list[str]
    tags: list[str]
    numbers: np.ndarray  # (blocks, len(NUMBERS)) int64
    bounds: list[int]  # the start and end character of each block in turn
    keyword_spans: KeywordSpans

    def __len__(self) -> int:
        return len(self.texts)

    def column(self, name: str) -> np.ndarray:
        return self.numbers[:, NUMBERS.index(name)]

    def local_keywords(self, wanted: int = -1) -> np.ndarray:
        """Per block, the KEYWORDS bits (those in `wanted`; default all) of the keyworded elements that enclose it,
        leaving out those that enclose every block: a `comments-open` body class or a `content` wrapper round the
        whole page says nothing of one block."""
        bits = np.zeros(len(self), dtype=np.int64)
        if not len(self) or not self.keyword_spans:
            return bits
        edges = np.array(self.bounds, dtype=np.int64).reshape(len(self), 2)
        starts, ends = edges[:, 0], edges[:, 1]
        spans = np.array(self.keyword_spans, dtype=np.int64)
        # not round every block, and with a wanted bit
        spans = spans[((spans[:, 0] > starts[0]) | (spans[:, 1] < ends[-1])) & ((spans[:, 2] & wanted) != 0)]
        # blocks are disjoint and in order: those inside an element are one run of them, [first, last)
        first = np.searchsorted(starts, spans[:, 0])
        last = np.searchsorted(ends, spans[:, 1], side="right")
        inside = first < last
        spans, first, last = spans[inside], first[inside], last[inside]
        present = int(np.bitwise_or.reduce(spans[:, 2])) & wanted if len(spans) else 0
        while present:  # one pass per bit: the runs of blocks its elements enclose
            bit = present & -present
            present ^= bit
            mine = (spans[:, 2] & bit) != 0
            cover = np.bincount(first[mine], minlength=len(self) + 1) - np.bincount(
                last[mine], minlength=len(self) + 1
            )
            bits[np.cumsum(cover[:-1]) > 0] |= bit
        return bits


_ATTR_BITS: dict[str, int] = {}  # class/id string -> KEYWORDS bits, shared across pages (bounded)


@functools.lru_cache(maxsize=1)
def _keyword_automaton():
    """Aho-Corasick automaton over every keyword, each keyword's value its group's bit."""
    import ahocorasick

    automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    words = dict(_KEYWORD_BITS)
    for kw in NOT_COMMENTS:
        words[kw] = words.get(kw, 0) | NOT_COMMENTS_BIT
    for kw, bit in words.items():
        automaton.add_word(kw, bit)
    automaton.make_automaton()
    return automaton


def _keyword_bits(attrs: str) -> int:
    """KEYWORDS bits of a `class id` string: a group's bit is set when any of its keywords is a substring, and
    NOT_COMMENTS_BIT when one of NOT_COMMENTS is and the comment group's bit is set (cached in _ATTR_BITS)."""
    bits = 0
    for _, bit in _keyword_automaton().iter(attrs.lower()):
        bits |= bit
    if not bits & COMMENT_BIT:
        bits &= ~NOT_COMMENTS_BIT
    _ATTR_BITS[attrs] = bits
    return bits


def parse(html: str | bytes):
    """lxml tree of `html`, text or its UTF-8 bytes (comments and processing instructions removed), or None when
    it has no elements."""
    import lxml.etree

    parser = lxml.etree.HTMLParser(  # collect_ids: no lookup of elements by id here, so no table of ids
        encoding="utf-8",
        remove_comments=True,
        remove_pis=True,
        no_network=True,
        default_doctype=False,
        collect_ids=False,
    )
    try:
        data = html if isinstance(html, bytes) else html.encode("utf-8", "replace")
        return lxml.etree.fromstring(data, parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return None


# (characters, linked characters, context) at each block boundary
Marks = list[tuple[int, int, tuple]]
# texts, tags, NUMBERS rows, and the start and end character of each block in turn
Cut = tuple[list[str], list[str], list[int], list[int]]


def walk(root) -> tuple[str, Marks, KeywordSpans]:
    """The page's text, its block marks and its keyworded elements, in one pass over `root` in document order.

    Each block boundary (a block element's start and end, and the page's end) is marked with the characters
    and linked characters so far and the context the next block opens with (the page's own context last). A
    block element's span, [characters, linked characters] (the differences of those counts at its end and
    start), is shared by the contexts below it. Context: (tag, depth, ANCESTOR_TAGS bits, KEYWORDS bits,
    KEYWORDS bits of the 3 nearest ancestors with keywords, spans of the 3 nearest block elements). Each element
    whose class/id holds keywords is listed with the characters its text spans and its own KEYWORDS bits, in the
    order its end is reached. The compiled twin `_html_walk.walk` returns the same.
    """
    cache = _ATTR_BITS
    pieces: list[str] = []
    add = pieces.append
    marks: Marks = []
    keyword_spans: KeywordSpans = []
    chars = linked = 0

    def visit(el, p_ctx: tuple, p_near: tuple, link: bool) -> None:
        nonlocal chars, linked
        tag = el.tag
        # left out with everything inside; its tail is the parent's text
        if tag in SKIP_TAGS or (tag not in NEVER_HIDDEN and hidden(el)):
            return
        _, p_depth, p_anc, kw, near_bits, chain = p_ctx
        near = p_near
        own = 0
        cls, ident = el.get("class"), el.get("id")
        if cls or ident:
            key = f"{cls} {ident}"
            own = cache.get(key)
            if own is None:
                own = _keyword_bits(key)
            if own:
                kw |= own
                near = (own, *near[:2])
                near_bits = 0
                for bits in near:
                    near_bits |= bits
        if tag == "a":
            link = True
        first = chars
        span = None
        if tag in BLOCK_TAGS:
            span = [chars, linked]
            chain = (span, *chain[:2])
        ctx = (tag, p_depth + 1, p_anc | _ANCESTOR_BITS.get(tag, 0), kw, near_bits, chain)
        if span is not None:
            marks.append((chars, linked, ctx))
        piece = el.text  # then each child's tail, after the child
        for child in (*el, None):
            if piece:
                add(piece)
                chars += len(piece)
                if link:
                    linked += len(piece)
            if child is None:
                break
            if child.tag.__class__ is str:
                visit(child, ctx, near, link)
            piece = child.tail
        if span is not None:
            span[0], span[1] = chars - span[0], linked - span[1]
            marks.append((chars, linked, p_ctx))
        if own:
            keyword_spans.append((first, chars, own))

    root_span = [0, 0]
    root_ctx = ("body", 0, 0, 0, 0, (root_span,))
    visit(root, root_ctx, (), False)
    root_span[0], root_span[1] = chars, linked
    marks.append((chars, linked, root_ctx))
    return "".join(pieces), marks, keyword_spans


def _cut(text: str, marks: Marks) -> Cut:
    """The blocks between consecutive marks that have a word character, whitespace collapsed."""
    texts: list[str] = []
    tags: list[str] = []
    numbers: list[int] = []
    bounds: list[int] = []
    start = start_linked = 0
    ctx = marks[-1][2]
    for end, end_linked, next_ctx in marks:
        if end > start:
            block = " ".join(text[start:end].split())
            if block and _WORD.search(block):
                tag, depth, anc, kw, near_bits, chain = ctx
                texts.append(block)
                tags.append(tag)
                bounds += (start, end)
                numbers += (end_linked - start_linked, depth, anc, kw, near_bits)
                for span in chain:
                    numbers += span
                numbers += (0, 0) * (3 - len(chain))
        start, start_linked, ctx = end, end_linked, next_ctx
    return texts, tags, numbers, bounds


def _compiled_walk():
    """The compiled walk (`curation.ops._html_walk`), or None where it cannot be imported (curation.ops.compiled)."""
    _html_walk = compiled_module("_html_walk")
    if _html_walk is None:
        return None
    return functools.partial(
        _html_walk.walk,
        block_tags=BLOCK_TAGS,
        skip_tags=SKIP_TAGS,
        never_hidden=NEVER_HIDDEN,
        hiding_styles=HIDING_STYLES,
        ancestor_bits=_ANCESTOR_BITS,
        cache=_ATTR_BITS,
        keyword_bits=_keyword_bits,
    )


def _compiled_cut():
    """The compiled `_cut` (`curation.ops._html_walk.cut`), or None where it was not built."""
    _html_walk = compiled_module("_html_walk")
    return None if _html_walk is None else _html_walk.cut


def blocks(root, walker=None, cutter=None) -> PageBlocks:
    """The page's text blocks in document order (blocks with no word characters left out). `walker` and
    `cutter`: the walk and cut to use (default: the compiled ones where they were built, else `walk`, `_cut`)."""
    if len(_ATTR_BITS) > 200_000:
        _ATTR_BITS.clear()
    text, marks, keyword_spans = (walker or _WALK)(root)
    texts, tags, numbers, bounds = (cutter or _CUT)(text, marks)
    rows = np.array(numbers, dtype=np.int64).reshape(len(texts), len(NUMBERS))
    return PageBlocks(texts, tags, rows, bounds, keyword_spans)


_WALK = _compiled_walk() or walk
_CUT = _compiled_cut() or _cut
