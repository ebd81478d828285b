"""Main text by a learned block classifier: the page's DOM cut into text blocks, each scored by a small shipped model.

One pass over the lxml tree (compiled from curation/ops/_html_walk.pyx at install, with `walk` here as its
Python twin and fallback) cuts the page into blocks (text between block-level tag boundaries) and records
per block what the boilerplate literature finds telling: text and link length, punctuation, the block's tag and
ancestor tags, class/id keywords of its ancestors (comment, nav, footer, share, ...), depth, relative position
and its neighbours. A gradient-boosted tree ensemble scores each block (stage 1); a second, small one rescores
it from stage 1's scores in its page context, as main text is contiguous (stage 2: its neighbours' scores, the
score share of its enclosing elements, its place relative to the confidently main blocks). Both are trained
offline by benchmarks/extraction_blocks.py on the tuning half of the visible gold and shipped as JSON in
curation/resources; the blocks scored >= its threshold are kept. Pure numpy at run time: no learning library is
needed to extract.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np

MODEL_RESOURCE = "html_blocks_model.json"

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
OWN_TAGS = [
    "p",
    "div",
    "li",
    "h1",
    "h23",
    "h456",
    "td",
    "span",
    "pre",
    "blockquote",
    "dd",
    "figcaption",
    "a",
    "other",
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
_ANCESTOR_BITS = {t: 1 << i for i, t in enumerate(ANCESTOR_TAGS)}
for _h in ("h1", "h2", "h3", "h4", "h5", "h6"):
    _ANCESTOR_BITS[_h] = _ANCESTOR_BITS["h"]
_OWN = {"h2": "h23", "h3": "h23", "h4": "h456", "h5": "h456", "h6": "h456", "th": "td"}
_SENTENCE_END = re.compile(r"[.!?。！？…:\"'”»)]$")
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


@dataclass(frozen=True)
class PageBlocks:
    """A page's text blocks in document order: each block's text, the tag of the element that opened it, and
    its NUMBERS (link characters and that element's context) as one int row."""

    texts: list[str]
    tags: list[str]
    numbers: np.ndarray  # (blocks, len(NUMBERS)) int64

    def __len__(self) -> int:
        return len(self.texts)

    def column(self, name: str) -> np.ndarray:
        return self.numbers[:, NUMBERS.index(name)]


_ATTR_BITS: dict[str, int] = {}  # class/id string -> KEYWORDS bits, shared across pages (bounded)


@functools.lru_cache(maxsize=1)
def _keyword_automaton():
    """Aho-Corasick automaton over every keyword, each keyword's value its group's bit."""
    import ahocorasick

    automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    for kw, bit in _KEYWORD_BITS.items():
        automaton.add_word(kw, bit)
    automaton.make_automaton()
    return automaton


def _keyword_bits(attrs: str) -> int:
    """KEYWORDS bits of a `class id` string: a group's bit is set when any of its keywords is a substring
    (cached in _ATTR_BITS)."""
    bits = 0
    for _, bit in _keyword_automaton().iter(attrs.lower()):
        bits |= bit
    _ATTR_BITS[attrs] = bits
    return bits


def parse(html: str):
    """lxml tree of `html` (comments and processing instructions removed), or None when it has no elements."""
    import lxml.etree

    parser = lxml.etree.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, default_doctype=False
    )
    try:
        return lxml.etree.fromstring(html.encode("utf-8", "replace"), parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return None


Marks = list[tuple[int, int, tuple]]  # (characters, linked characters, context) at each block boundary


def walk(root) -> tuple[str, Marks]:
    """The page's text and its block marks, in one pass over `root` in document order.

    Each block boundary (a block element's start and end, and the page's end) is marked with the characters
    and linked characters so far and the context the next block opens with (the page's own context last). A
    block element's span, [characters, linked characters] (the differences of those counts at its end and
    start), is shared by the contexts below it. Context: (tag, depth, ANCESTOR_TAGS bits, KEYWORDS bits,
    KEYWORDS bits of the 3 nearest ancestors with keywords, spans of the 3 nearest block elements). The
    compiled twin `_html_walk.walk` returns the same.
    """
    cache = _ATTR_BITS
    pieces: list[str] = []
    add = pieces.append
    marks: Marks = []
    chars = linked = 0

    def visit(el, p_ctx: tuple, p_near: tuple, link: bool) -> None:
        nonlocal chars, linked
        tag = el.tag
        if tag in SKIP_TAGS:  # left out with everything inside; its tail is the parent's text
            return
        _, p_depth, p_anc, kw, near_bits, chain = p_ctx
        near = p_near
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
        span = None
        if tag in BLOCK_TAGS:
            span = [chars, linked]
            chain = (span, *chain[:2])
        ctx = (tag, p_depth + 1, p_anc | _ANCESTOR_BITS.get(tag, 0), kw, near_bits, chain)
        if span is not None:
            marks.append((chars, linked, ctx))
        text = el.text
        if text:
            add(text)
            chars += len(text)
            if link:
                linked += len(text)
        for child in el:
            if child.tag.__class__ is str:
                visit(child, ctx, near, link)
            tail = child.tail
            if tail:
                add(tail)
                chars += len(tail)
                if link:
                    linked += len(tail)
        if span is not None:
            span[0], span[1] = chars - span[0], linked - span[1]
            marks.append((chars, linked, p_ctx))

    root_span = [0, 0]
    root_ctx = ("body", 0, 0, 0, 0, (root_span,))
    visit(root, root_ctx, (), False)
    root_span[0], root_span[1] = chars, linked
    marks.append((chars, linked, root_ctx))
    return "".join(pieces), marks


def _cut(text: str, marks: Marks) -> PageBlocks:
    """The blocks between consecutive marks that have a word character, whitespace collapsed."""
    texts: list[str] = []
    tags: list[str] = []
    numbers: list[int] = []
    start = start_linked = 0
    ctx = marks[-1][2]
    for end, end_linked, next_ctx in marks:
        if end > start:
            block = " ".join(text[start:end].split())
            if block and _WORD.search(block):
                tag, depth, anc, kw, near_bits, chain = ctx
                texts.append(block)
                tags.append(tag)
                numbers += (end_linked - start_linked, depth, anc, kw, near_bits)
                for span in chain:
                    numbers += span
                numbers += (0, 0) * (3 - len(chain))
        start, start_linked, ctx = end, end_linked, next_ctx
    return PageBlocks(texts, tags, np.array(numbers, dtype=np.int64).reshape(len(texts), len(NUMBERS)))


def _compiled_walk():
    """The compiled walk (`curation.ops._html_walk`, built at install), or None where it was not built or was
    built against an lxml whose element layout differs from the one installed (Cython refuses that import with
    a ValueError)."""
    try:
        from curation.ops import _html_walk
    except (ImportError, ValueError):
        return None
    return functools.partial(
        _html_walk.walk,
        block_tags=BLOCK_TAGS,
        skip_tags=SKIP_TAGS,
        ancestor_bits=_ANCESTOR_BITS,
        cache=_ATTR_BITS,
        keyword_bits=_keyword_bits,
    )


def blocks(root, walker=None) -> PageBlocks:
    """The page's text blocks in document order (blocks with no word characters left out). `walker`: the
    walk to use (default: the compiled one where it was built, else `walk`)."""
    if len(_ATTR_BITS) > 200_000:
        _ATTR_BITS.clear()
    return _cut(*(walker or _WALK)(root))


_WALK = _compiled_walk() or walk
N_KEYWORDS = len(KEYWORDS)


def _code_table(chars: str) -> np.ndarray:
    table = np.zeros(0x10000, dtype=bool)  # Basic Multilingual Plane; other code points map to the last slot
    table[[ord(c) for c in chars]] = True
    return table


_PUNCT_TABLE = _code_table(".,;:!?。、，．！？")
_END_TABLE = _code_table(".!?。！？…:\"'”»)")


def _text_stats(page: PageBlocks) -> np.ndarray:
    """Per block: log chars, log words, link density, punctuation per word, ends a sentence, digit share,
    mean word length, starts upper-case, depth (vectorised over the page's code points)."""
    texts = page.texts
    n = np.array([len(t) for t in texts], dtype=np.float64)
    starts = np.concatenate([[0], np.cumsum(n[:-1] + 1)]).astype(np.intp)
    codes = np.minimum(np.frombuffer("\n".join(texts).encode("utf-32-le"), dtype=np.uint32), 0xFFFF)
    per_block = lambda mask: np.add.reduceat(mask.astype(np.float64), starts)  # noqa: E731
    words = per_block(codes == 32) + 1.0
    punct = per_block(_PUNCT_TABLE[codes])
    digits = per_block((codes >= 48) & (codes <= 57))
    ends = _END_TABLE[codes[starts + n.astype(np.intp) - 1]]
    links = page.column("link_chars").astype(np.float64)
    return np.column_stack(
        [
            np.log1p(n),
            np.log1p(words),
            np.minimum(1.0, links / n),
            punct / words,
            ends,
            digits / n,
            (n - words + 1) / words,
            [t[0].isupper() for t in texts],
            page.column("depth"),
        ]
    ).astype(np.float64)


_OWN_INDEX = {t: i for i, t in enumerate(OWN_TAGS)}
NEIGHBOUR_COLS = (0, 2, 3, 4)  # log chars, link density, punctuation, sentence end


def _bits(values: np.ndarray, n: int) -> np.ndarray:
    return (values[:, None] >> np.arange(n)[None, :] & 1).astype(np.float64)


def features(page_blocks: PageBlocks) -> np.ndarray:
    """One row per block: its own features, tag and class/id bits, page-relative position and size, and its
    neighbours' basics."""
    own = _text_stats(page_blocks)
    k = len(own)
    tags = np.zeros((k, len(OWN_TAGS)))
    tags[np.arange(k), [_OWN_INDEX.get(_OWN.get(t, t), len(OWN_TAGS) - 1) for t in page_blocks.tags]] = 1.0
    chars = np.expm1(own[:, 0])
    total = chars.sum()
    before = np.cumsum(chars) - chars
    depth = own[:, 8]
    page = np.column_stack(
        [
            np.arange(k) / max(1, k - 1),
            before / max(1.0, total),
            chars / max(1.0, total),
            np.full(k, math.log1p(total)),
            np.full(k, math.log1p(k)),
            depth - np.median(depth),
            # link density and characters of the 5-block window around each block
            _window(chars * own[:, 2], 2) / np.maximum(1.0, _window(chars, 2)),
            np.log1p(_window(chars, 2)),
        ]
    )
    containers = page_blocks.numbers[:, NUMBERS.index("container1_chars") :].astype(np.float64)
    cont_chars, cont_links = containers[:, 0::2], containers[:, 1::2]
    enclosing = np.hstack(
        [np.log1p(cont_chars), cont_chars / max(1.0, total), cont_links / np.maximum(1.0, cont_chars)]
    )
    base = own[:, NEIGHBOUR_COLS]
    pad = np.full((1, base.shape[1]), -1.0)
    prev = np.vstack([pad, base[:-1]])
    nxt = np.vstack([base[1:], pad])
    return np.hstack(
        [
            own,
            tags,
            _bits(page_blocks.column("ancestors"), len(ANCESTOR_TAGS)),
            _bits(page_blocks.column("keywords"), N_KEYWORDS),
            _bits(page_blocks.column("near_keywords"), N_KEYWORDS),
            page,
            enclosing,
            prev,
            nxt,
        ]
    )


def _window(values: np.ndarray, radius: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(len(values))
    lo, hi = np.maximum(0, idx - radius), np.minimum(len(values), idx + radius + 1)
    return c[hi] - c[lo]


CONFIDENT_P = 0.5  # stage-1 P from which a block counts as confidently main text for the context features


def _container_runs(page_blocks: PageBlocks, level: int) -> np.ndarray:
    """Start index of each run of consecutive blocks in one `level`-th nearest enclosing block element (0 =
    the nearest; the outermost a block has where it has fewer). An element is known by its [characters,
    linked characters]: adjacent elements with equal counts count as one."""
    spans = page_blocks.numbers[:, NUMBERS.index("container1_chars") :]
    chars, links = spans[:, 2 * level], spans[:, 2 * level + 1]
    for outer in range(level - 1, -1, -1):  # fewer enclosing elements: the outermost one it has
        missing = chars == 0
        chars = np.where(missing, spans[:, 2 * outer], chars)
        links = np.where(missing, spans[:, 2 * outer + 1], links)
    return np.flatnonzero(np.concatenate([[True], (chars[1:] != chars[:-1]) | (links[1:] != links[:-1])]))


N_CONTEXT = 24


def context_features(p: np.ndarray, page_blocks: PageBlocks) -> np.ndarray:
    """Stage-2 rows: each block's stage-1 P in its page context (main text is contiguous): its own P, its
    neighbours' at +-1 and +-2 (-1 past the page's ends), mean P of the 3, 7 and 21-block windows around it,
    character-weighted mean P of the 5 and 21-block windows and of its 3 nearest enclosing block elements, whether
    it lies between the first and last confidently main blocks (P >= CONFIDENT_P), the blocks to the nearest one
    before and after it, the characters between it and that span (page share), page-level P statistics (max,
    mean, character-weighted mean, confident character share, log confident blocks), P relative to the page's
    max, and log characters."""
    k = len(p)
    out = np.empty((k, N_CONTEXT))
    chars = np.fromiter(map(len, page_blocks.texts), np.float64, k)
    pc = p * chars
    total = max(1.0, chars.sum())
    idx = np.arange(k)
    out[:, 0] = p
    out[:, 1:5] = -1.0
    out[1:, 1], out[2:, 2], out[:-1, 3], out[:-2, 4] = p[:-1], p[:-2], p[1:], p[2:]
    cum_p, cum_pc, cum_c = (np.concatenate([[0.0], np.cumsum(v)]) for v in (p, pc, chars))
    for col, radius, weighted in ((5, 1, False), (6, 3, False), (7, 10, False), (8, 2, True), (9, 10, True)):
        lo, hi = np.maximum(0, idx - radius), np.minimum(k, idx + radius + 1)
        if weighted:
            out[:, col] = (cum_pc[hi] - cum_pc[lo]) / np.maximum(1.0, cum_c[hi] - cum_c[lo])
        else:
            out[:, col] = (cum_p[hi] - cum_p[lo]) / (hi - lo)
    for level in range(3):
        starts = _container_runs(page_blocks, level)
        share = np.add.reduceat(pc, starts) / np.maximum(1.0, np.add.reduceat(chars, starts))
        out[:, 10 + level] = np.repeat(share, np.diff(np.append(starts, k)))
    confident = p >= CONFIDENT_P
    conf = np.flatnonzero(confident)
    if len(conf):
        first, last = conf[0], conf[-1]
        prev_conf = np.maximum.accumulate(np.where(confident, idx, -1))
        next_conf = np.minimum.accumulate(np.where(confident, idx, k)[::-1])[::-1]
        before = cum_c[:-1]
        out[:, 13] = (idx >= first) & (idx <= last)
        out[:, 14] = np.log1p(np.where(prev_conf >= 0, idx - prev_conf, k))
        out[:, 15] = np.log1p(np.where(next_conf < k, next_conf - idx, k))
        gap = np.where(
            idx < first, before[first] - before - chars, np.where(idx > last, before - cum_c[last + 1], 0)
        )
        out[:, 16] = gap / total
    else:
        out[:, 13] = 0.0
        out[:, 14:16] = math.log1p(k)
        out[:, 16] = 1.0
    p_max = p.max()
    out[:, 17] = p_max
    out[:, 18] = p.mean()
    out[:, 19] = pc.sum() / total
    out[:, 20] = chars[confident].sum() / total
    out[:, 21] = math.log1p(len(conf))
    out[:, 22] = p / max(1e-9, p_max)
    out[:, 23] = np.log1p(chars)
    return out


@dataclass(frozen=True)
class TreeEnsemble:
    """Binary gradient-boosted trees, each laid out as a complete tree of depth `max_depth` (x[feature] <=
    threshold goes left; node i's children are 2i+1 and 2i+2), so evaluation is `max_depth` array steps for all
    trees and rows at once; a leaf above the full depth becomes a node whose whole subtree carries its value.
    The leaf values add up to a logit."""

    feature: np.ndarray  # (trees, 2**max_depth - 1) internal nodes
    threshold: np.ndarray  # (trees, 2**max_depth - 1)
    value: np.ndarray  # (trees, 2**max_depth) leaves
    baseline: float
    threshold_p: float
    max_depth: int
    n_features: int

    @classmethod
    def from_json(cls, payload: dict) -> TreeEnsemble:
        depth = int(payload["max_depth"])
        n_inner, n_trees = 2**depth - 1, len(payload["trees"])
        feature = np.zeros((n_trees, n_inner), dtype=np.intp)
        threshold = np.full((n_trees, n_inner), np.inf)
        value = np.zeros((n_trees, 2**depth))
        for t, tree in enumerate(payload["trees"]):

            def place(node: int, slot: int, level: int, tree: dict = tree, t: int = t) -> None:
                """Put `tree`'s `node` at complete-layout `slot` of `level`."""
                if tree["leaf"][node]:
                    first = (slot + 1) * 2 ** (depth - level) - 2**depth  # leftmost leaf under `slot`
                    value[t, first : first + 2 ** (depth - level)] = tree["value"][node]
                    return
                feature[t, slot], threshold[t, slot] = tree["feature"][node], tree["threshold"][node]
                place(tree["left"][node], 2 * slot + 1, level + 1)
                place(tree["right"][node], 2 * slot + 2, level + 1)

            place(0, 0, 0)
        return cls(
            feature=feature,
            threshold=threshold,
            value=value,
            baseline=float(payload["baseline"]),
            threshold_p=float(payload["threshold"]),
            max_depth=depth,
            n_features=int(payload["n_features"]),
        )

    def proba(self, x: np.ndarray, compiled: bool = True) -> np.ndarray:
        """P(main text) per row of `x` (`compiled`: through `_tree_scores` where it was built)."""
        if x.shape[1] != self.n_features:
            raise ValueError(f"model expects {self.n_features} features, got {x.shape[1]}")
        x = np.ascontiguousarray(x, dtype=np.float64)
        scores = _compiled_scores() if compiled else None
        if scores is not None:
            raw = np.empty(len(x))
            scores(x, self.feature, self.threshold, self.value, self.max_depth, raw)
        else:
            raw = self._raw_numpy(x)
        return 1.0 / (1.0 + np.exp(-(self.baseline + raw)))

    def _raw_numpy(self, x: np.ndarray) -> np.ndarray:
        """Sum of leaf values per row, all trees and rows at once, `max_depth` array steps."""
        n_trees, n_inner = self.feature.shape
        flat_feature, flat_threshold = self.feature.ravel(), self.threshold.ravel()
        tree_base = np.arange(n_trees, dtype=np.intp) * n_inner
        row_base = np.arange(len(x), dtype=np.intp)[:, None] * x.shape[1]
        slot = np.zeros((len(x), n_trees), dtype=np.intp)
        flat_x = x.ravel()
        for _ in range(self.max_depth):
            node = tree_base + slot
            go_left = flat_x.take(row_base + flat_feature.take(node)) <= flat_threshold.take(node)
            slot = 2 * slot + 2 - go_left
        leaf = slot - n_inner + np.arange(n_trees, dtype=np.intp) * (n_inner + 1)
        return self.value.ravel().take(leaf).sum(axis=1)


@functools.lru_cache(maxsize=1)
def _compiled_scores():
    """`_tree_scores.raw_scores` (built at install), or None where it was not built."""
    try:
        from curation.ops._tree_scores import raw_scores
    except ImportError:
        return None
    return raw_scores


def select(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Blocks to keep: P >= threshold; when none is, the best block and those within half its P (a page with
    text never comes out empty)."""
    keep = proba >= threshold
    if not keep.any() and len(proba):
        keep = proba >= 0.5 * proba.max()
    return keep


@dataclass(frozen=True)
class BlockModel:
    """Stage 1 scores each block from its features; stage 2 (when present) rescores it from stage 1's P in its
    page context (context_features) next to the same features. A block is kept when its last P >= `threshold`."""

    stage1: TreeEnsemble
    stage2: TreeEnsemble | None
    threshold: float

    FORMAT = "mmcurate html_blocks stacked tree ensembles v2"

    @classmethod
    def from_json(cls, payload: dict) -> BlockModel:
        if payload.get("format") != cls.FORMAT:
            raise ValueError(f"not a {cls.FORMAT!r} model: {payload.get('format')!r}")
        stage2 = payload.get("stage2")
        return cls(
            stage1=TreeEnsemble.from_json(payload["stage1"]),
            stage2=TreeEnsemble.from_json(stage2) if stage2 else None,
            threshold=float(payload["threshold"]),
        )

    def proba(self, page_blocks: PageBlocks) -> np.ndarray:
        """P(main text) per block of a page."""
        x = features(page_blocks)
        p = self.stage1.proba(x)
        if self.stage2 is None:
            return p
        return self.stage2.proba(np.hstack([context_features(p, page_blocks), x]))


@functools.lru_cache(maxsize=1)
def shipped_model() -> BlockModel:
    """The model in curation/resources (loaded once per process)."""
    text = resources.files("curation.resources").joinpath(MODEL_RESOURCE).read_text()
    return BlockModel.from_json(json.loads(text))


def extract_blocks(html: str, model: BlockModel | None = None, comments: bool = False) -> str:
    """Main text of `html`: the blocks the model keeps, one per line ('' when the page has no text).

    `comments`: also keep the blocks inside comment sections (class/id `comment`, `disqus`, ...) that are
    prose (a sentence end, not link-dense), which the model itself was trained to leave out.
    """
    root = parse(html)
    if root is None:
        return ""
    page = blocks(root)
    if not page:
        return ""
    model = model or shipped_model()
    keep = select(model.proba(page), model.threshold)
    if comments:
        bit = 1 << list(KEYWORDS).index("comment")
        in_comments = page.column("keywords") & bit
        for i in np.flatnonzero(in_comments & ~keep):
            text = page.texts[i]
            if page.column("link_chars")[i] < 0.5 * len(text) and _SENTENCE_END.search(text):
                keep[i] = True
    return "\n".join(t for t, k in zip(page.texts, keep, strict=True) if k)
