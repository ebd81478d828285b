"""Main text by a learned block classifier: the page's DOM cut into text blocks, each scored by a small shipped model.

One pass over the lxml tree cuts the page into blocks (text between block-level tag boundaries) and records
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
import itertools
import json
import math
import operator
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


class Block:
    """One text block of a page: its text, linked characters, and the context of the element that opened it:
    `ctx` = (tag, depth, ANCESTOR_TAGS bits, KEYWORDS bits over all ancestors, KEYWORDS bits of each of the 3
    nearest ancestors with keywords, [characters, linked characters] of the 3 nearest block elements)."""

    __slots__ = ("ctx", "parts", "link_chars", "text")

    def __init__(self, ctx: tuple):
        self.ctx = ctx
        self.parts: list[str] = []
        self.link_chars = 0
        self.text = ""

    tag = property(lambda self: self.ctx[0])
    depth = property(lambda self: self.ctx[1])
    ancestors = property(lambda self: self.ctx[2])
    keywords = property(lambda self: self.ctx[3])
    containers = property(lambda self: self.ctx[5])

    @property
    def near_keywords(self) -> int:
        """KEYWORDS bits of the 3 nearest ancestors with class/id keywords."""
        out = 0
        for bits in self.ctx[4]:
            out |= bits
        return out


_ATTR_BITS: dict[str, int] = {}  # class/id string -> KEYWORDS bits, shared across pages (bounded)


def _keyword_bits(attrs: str) -> int:
    """KEYWORDS bits of a `class id` string (cached in _ATTR_BITS)."""
    low = attrs.lower()
    bits = 0
    for kw, bit in _KEYWORD_BITS.items():
        if kw in low:
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


def blocks(root) -> list[Block]:
    """The page's text blocks in document order (blocks with no word characters left out)."""
    import lxml.etree

    lxml.etree.strip_elements(root, *SKIP_TAGS, with_tail=False)
    out: list[Block] = []
    cache = _ATTR_BITS
    if len(cache) > 200_000:
        cache.clear()
    root_stat = [0, 0]
    root_ctx = ("body", 0, 0, 0, (), (root_stat,))
    current = Block(root_ctx)

    def flush(ctx: tuple) -> None:
        """End the current block (kept if it has word characters) and open one with context `ctx`."""
        nonlocal current
        text = " ".join("".join(current.parts).split())
        if text and _WORD.search(text):
            current.text = text
            out.append(current)
            current = Block(ctx)
        else:
            current.parts, current.link_chars, current.ctx = [], 0, ctx

    def visit(el, p_ctx: tuple, p_link: bool) -> tuple[int, int]:
        """Walk `el`'s subtree; returns its (characters, linked characters)."""
        nonlocal current
        tag = el.tag
        _, p_depth, p_anc, kw, near, chain = p_ctx
        cls, ident = el.get("class"), el.get("id")
        if cls or ident:
            own = cache.get(f"{cls} {ident}")
            if own is None:
                own = _keyword_bits(f"{cls} {ident}")
            if own:
                kw |= own
                near = (own, *near[:2])
        link = p_link or tag == "a"
        is_block = tag in BLOCK_TAGS
        if is_block:
            stat = [0, 0]
            chain = (stat, *chain[:2])
        ctx = (tag, p_depth + 1, p_anc | _ANCESTOR_BITS.get(tag, 0), kw, near, chain)
        if is_block:
            if current.parts:
                flush(ctx)
            else:
                current.ctx = ctx
        chars = links = 0
        text = el.text
        if text:
            current.parts.append(text)
            chars = len(text)
            if link:
                current.link_chars += chars
        for child in el:
            if child.tag.__class__ is str:
                c, k = visit(child, ctx, link)
                chars += c
                links += k
            tail = child.tail
            if tail:
                current.parts.append(tail)
                chars += len(tail)
                if link:
                    current.link_chars += len(tail)
        if link:
            links = chars
        if is_block:
            stat[0], stat[1] = chars, links
            if current.parts:
                flush(p_ctx)
            else:
                current.ctx = p_ctx
        return chars, links

    root_stat[0], root_stat[1] = visit(root, root_ctx, False)
    if current.parts:
        flush(root_ctx)
    return out


N_KEYWORDS = len(KEYWORDS)


def _code_table(chars: str) -> np.ndarray:
    table = np.zeros(0x10000, dtype=bool)  # Basic Multilingual Plane; other code points map to the last slot
    table[[ord(c) for c in chars]] = True
    return table


_PUNCT_TABLE = _code_table(".,;:!?。、，．！？")
_END_TABLE = _code_table(".!?。！？…:\"'”»)")


def _text_stats(page_blocks: list[Block]) -> np.ndarray:
    """Per block: log chars, log words, link density, punctuation per word, ends a sentence, digit share,
    mean word length, starts upper-case, depth (vectorised over the page's code points)."""
    texts = [b.text for b in page_blocks]
    n = np.array([len(t) for t in texts], dtype=np.float64)
    starts = np.concatenate([[0], np.cumsum(n[:-1] + 1)]).astype(np.intp)
    codes = np.minimum(np.frombuffer("\n".join(texts).encode("utf-32-le"), dtype=np.uint32), 0xFFFF)
    per_block = lambda mask: np.add.reduceat(mask.astype(np.float64), starts)  # noqa: E731
    words = per_block(codes == 32) + 1.0
    punct = per_block(_PUNCT_TABLE[codes])
    digits = per_block((codes >= 48) & (codes <= 57))
    ends = _END_TABLE[codes[starts + n.astype(np.intp) - 1]]
    links = np.array([b.link_chars for b in page_blocks], dtype=np.float64)
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
            [b.depth for b in page_blocks],
        ]
    ).astype(np.float64)


_OWN_INDEX = {t: i for i, t in enumerate(OWN_TAGS)}
NEIGHBOUR_COLS = (0, 2, 3, 4)  # log chars, link density, punctuation, sentence end


def _bits(values: list[int], n: int) -> np.ndarray:
    return (np.array(values, dtype=np.int64)[:, None] >> np.arange(n)[None, :] & 1).astype(np.float64)


def features(page_blocks: list[Block]) -> np.ndarray:
    """One row per block: its own features, tag and class/id bits, page-relative position and size, and its
    neighbours' basics."""
    own = _text_stats(page_blocks)
    k = len(own)
    tags = np.zeros((k, len(OWN_TAGS)))
    tags[np.arange(k), [_OWN_INDEX.get(_OWN.get(b.tag, b.tag), len(OWN_TAGS) - 1) for b in page_blocks]] = 1.0
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
    containers = np.array(
        [[v for stat in (b.containers + ([0, 0],) * 3)[:3] for v in stat] for b in page_blocks],
        dtype=np.float64,
    )
    cont_chars, cont_links = containers[:, 0::2], containers[:, 1::2]
    context = np.hstack(
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
            _bits([b.ancestors for b in page_blocks], len(ANCESTOR_TAGS)),
            _bits([b.keywords for b in page_blocks], N_KEYWORDS),
            _bits([b.near_keywords for b in page_blocks], N_KEYWORDS),
            page,
            context,
            prev,
            nxt,
        ]
    )


def _window(values: np.ndarray, radius: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(len(values))
    lo, hi = np.maximum(0, idx - radius), np.minimum(len(values), idx + radius + 1)
    return c[hi] - c[lo]


_CTX = operator.attrgetter("ctx")
_CHAIN = operator.itemgetter(5)  # of a Block's ctx: its 3 nearest block elements' statistics
_TEXT = operator.attrgetter("text")
CONFIDENT_P = 0.5  # stage-1 P from which a block counts as confidently main text for the context features


def _container_keys(page_blocks: list[Block]) -> np.ndarray:
    """(blocks, 3): identities of each block's 3 nearest enclosing block elements (the outermost one repeated
    where a block has fewer). Blocks of one element share its statistics object and are contiguous."""
    chains = list(map(_CHAIN, map(_CTX, page_blocks)))
    for i in np.flatnonzero(np.fromiter(map(len, chains), np.intp, len(chains)) < 3):
        chains[i] = (chains[i] + (chains[i][-1],) * 2)[:3]
    return np.fromiter(map(id, itertools.chain.from_iterable(chains)), np.int64, 3 * len(chains)).reshape(
        -1, 3
    )


N_CONTEXT = 24


def context_features(p: np.ndarray, page_blocks: list[Block]) -> np.ndarray:
    """Stage-2 rows: each block's stage-1 P in its page context (main text is contiguous): its own P, its
    neighbours' at +-1 and +-2 (-1 past the page's ends), mean P of the 3, 7 and 21-block windows around it,
    character-weighted mean P of the 5 and 21-block windows and of its 3 nearest enclosing block elements, whether
    it lies between the first and last confidently main blocks (P >= CONFIDENT_P), the blocks to the nearest one
    before and after it, the characters between it and that span (page share), page-level P statistics (max,
    mean, character-weighted mean, confident character share, log confident blocks), P relative to the page's
    max, and log characters."""
    k = len(p)
    out = np.empty((k, N_CONTEXT))
    chars = np.fromiter(map(len, map(_TEXT, page_blocks)), np.float64, k)
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
    keys = _container_keys(page_blocks)
    for level in range(3):
        key = keys[:, level]
        starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
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
    """Binary gradient-boosted trees as flat node arrays (all trees end to end): x[feature] <= threshold goes
    left; a leaf points to itself, so `max_depth` steps reach every leaf; the leaf values add up to a logit."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray  # index of each tree's root node
    baseline: float
    threshold_p: float
    max_depth: int
    n_features: int

    @classmethod
    def from_json(cls, payload: dict) -> TreeEnsemble:
        feature, threshold, left, right, value, roots = [], [], [], [], [], []
        for tree in payload["trees"]:
            offset = len(feature)
            roots.append(offset)
            for i, is_leaf in enumerate(tree["leaf"]):
                feature.append(0 if is_leaf else tree["feature"][i])
                threshold.append(0.0 if is_leaf else tree["threshold"][i])
                left.append(offset + i if is_leaf else offset + tree["left"][i])
                right.append(offset + i if is_leaf else offset + tree["right"][i])
                value.append(tree["value"][i] if is_leaf else 0.0)
        return cls(
            feature=np.array(feature, dtype=np.intp),
            threshold=np.array(threshold, dtype=np.float64),
            left=np.array(left, dtype=np.intp),
            right=np.array(right, dtype=np.intp),
            value=np.array(value, dtype=np.float64),
            roots=np.array(roots, dtype=np.intp),
            baseline=float(payload["baseline"]),
            threshold_p=float(payload["threshold"]),
            max_depth=int(payload["max_depth"]),
            n_features=int(payload["n_features"]),
        )

    def proba(self, x: np.ndarray) -> np.ndarray:
        """P(main text) per row of `x`."""
        if x.shape[1] != self.n_features:
            raise ValueError(f"model expects {self.n_features} features, got {x.shape[1]}")
        flat = np.ascontiguousarray(x, dtype=np.float64).ravel()
        row_start = (np.arange(len(x), dtype=np.intp) * x.shape[1])[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        for _ in range(self.max_depth):
            go_left = flat.take(row_start + self.feature.take(node)) <= self.threshold.take(node)
            node = np.where(go_left, self.left.take(node), self.right.take(node))
        raw = self.baseline + self.value.take(node).sum(axis=1)
        return 1.0 / (1.0 + np.exp(-raw))


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

    def proba(self, page_blocks: list[Block]) -> np.ndarray:
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
        for i, b in enumerate(page):
            if b.keywords & bit and b.link_chars < 0.5 * len(b.text) and _SENTENCE_END.search(b.text):
                keep[i] = True
    return "\n".join(b.text for b, k in zip(page, keep, strict=True) if k)
