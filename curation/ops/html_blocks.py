"""Main text by a learned block classifier: the page's DOM cut into text blocks, each scored by a small shipped model.

The page is parsed and cut into blocks with their context (curation.ops.html_walk), each block gets a feature
row (curation.ops.block_features: text and link length, punctuation, its tag and ancestor tags, class/id keywords
of its ancestors, depth, position, enclosing elements, neighbours). A gradient-boosted tree ensemble scores each
block (stage 1); a second, small one rescores it from stage 1's scores in its page context, as main text is
contiguous (stage 2). Both are trained offline by benchmarks/extraction_blocks.py on the visible gold and on the
tuning half of old crawl pages labelled here (benchmarks/gold; settings chosen by CV on the tuning halves of both)
and shipped as JSON in curation/resources, and evaluated without a learning library (curation.ops.tree_ensemble); the blocks whose last score is >= the model's threshold are kept.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from curation.ops.block_features import features, stage2_rows
from curation.ops.html_walk import ANCESTOR_TAGS, COMMENT_BIT, NOT_COMMENTS_BIT, PageBlocks, blocks, parse
from curation.ops.tree_ensemble import TreeEnsemble

MODEL_RESOURCE = "html_blocks_model.json"
_FORM_BIT = 1 << ANCESTOR_TAGS.index("form")


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
        return self.stage2.proba(stage2_rows(p, page_blocks, x))


@functools.lru_cache(maxsize=4)
def load_model(path: str | None = None) -> BlockModel:
    """The model in the JSON file `path` (as benchmarks/extraction_blocks.py writes it), or the shipped one in
    curation/resources when None; each loaded once per process."""
    if path is None:
        text = resources.files("curation.resources").joinpath(MODEL_RESOURCE).read_text()
    else:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    return BlockModel.from_json(json.loads(text))


def shipped_model() -> BlockModel:
    """The model in curation/resources."""
    return load_model(None)


def in_comment_section(page: PageBlocks) -> np.ndarray:
    """Per block, whether an element that encloses it, and not every block of the page, has a class/id naming a
    comment section, and none names one that holds no reader comments (a "recent comments" widget, the comment
    box: html_walk.NOT_COMMENTS). A `comments-open` body class (WordPress) or a wrapper round the whole page says
    nothing of one block (`PageBlocks.local_keywords`)."""
    bits = page.local_keywords(COMMENT_BIT | NOT_COMMENTS_BIT)
    return ((bits & COMMENT_BIT) != 0) & ((bits & NOT_COMMENTS_BIT) == 0)


def in_form(page: PageBlocks) -> np.ndarray:
    """Per block, whether a `<form>` encloses it (a comment box: its labels, notices and consent lines), except
    where forms enclose half the page's blocks or more: a page-wide form (ASP.NET Web Forms wraps every page in
    one) says nothing of a block."""
    enclosed = (page.column("ancestors") & _FORM_BIT).astype(bool)
    return enclosed if enclosed.mean() < 0.5 else np.zeros(len(page), dtype=bool)


HEADLINE_REACH = 15  # blocks, counting the first kept one, in which its headline is looked for
HEADER_WORDS = 30  # the most words of a header line (byline, date, lead, photo credit)


def article_header(page: PageBlocks, keep: np.ndarray) -> np.ndarray:
    """Per block, whether it is the header of the text the kept blocks `keep` start: the nearest `h1` block among
    the first kept block and the HEADLINE_REACH - 1 before it, and the blocks between that headline and the first
    kept block of at most HEADER_WORDS words and under half link text (byline, date, lead, photo credit)."""
    header = np.zeros(len(page), dtype=bool)
    if not keep.any():
        return header
    first = int(np.argmax(keep))
    headline = next(
        (i for i in range(first, max(-1, first - HEADLINE_REACH), -1) if page.tags[i] == "h1"), None
    )
    if headline is None:
        return header
    header[headline] = True
    links = page.column("link_chars")
    for i in range(headline + 1, first):
        text = page.texts[i]
        header[i] = text.count(" ") < HEADER_WORDS and links[i] < 0.5 * len(text)
    return header


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off inside the block, as it was after it. A page's walk makes many
    small tuples and no reference cycles (refcounts free them), and the collections they would set off cost about
    10 % of the engine's time (benchmarks/RESULTS.md)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def extract_blocks(
    html: str | bytes, model: BlockModel | None = None, comments: bool = False, post_meta: bool = False
) -> str:
    """Main text of `html` (text, or its UTF-8 bytes): the blocks the model keeps, one per line ('' when the page
    has no text).

    `comments`: also keep the blocks inside comment sections (class/id `comment`, `disqus`, ...;
    `in_comment_section`) that are not link-dense (under half link text: reply and share links, bare URLs) and
    not in a form (`in_form`: the comment box), which the model itself was trained to leave out. Author-and-date
    lines and comments without a sentence end are kept too (benchmarks/RESULTS.md, "comments: true keeps whole
    comment sections").
    `post_meta`: also keep the header of the text (`article_header`: its headline, byline, date, lead), which
    the model learned to leave out where the visible gold does (AEB's article body; benchmarks/RESULTS.md,
    "`post_meta: true`").
    """
    model = model or shipped_model()
    with _collector_paused():
        root = parse(html)
        if root is None:
            return ""
        page = blocks(root)
        if not page:
            return ""
        keep = select(model.proba(page), model.threshold)
        if post_meta:
            keep |= article_header(page, keep)
        if comments:
            chars = np.fromiter(map(len, page.texts), dtype=np.int64, count=len(page))
            keep |= in_comment_section(page) & ~in_form(page) & (page.column("link_chars") < 0.5 * chars)
        return "\n".join(t for t, k in zip(page.texts, keep, strict=True) if k)
