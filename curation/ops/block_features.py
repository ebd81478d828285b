"""Feature rows of a page's text blocks: stage 1 (each block's own text, tag and context, page-relative position
and size, neighbours) and stage 2 (stage 1's P in the block's page context) of the `blocks` engine."""

from __future__ import annotations

import numpy as np

from curation.ops.compiled import compiled_module
from curation.ops.html_walk import ANCESTOR_TAGS, KEYWORDS, NUMBERS, PageBlocks

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
# tags that share a column of the block's own tag
_OWN_GROUP = {"h2": "h23", "h3": "h23", "h4": "h456", "h5": "h456", "h6": "h456", "th": "td"}

N_KEYWORDS = len(KEYWORDS)


def _compiled_rows():
    """`curation.ops._block_rows` (built at install: `stage1_rows`, `stage2_rows`), or None where it was not."""
    return compiled_module("_block_rows")


_ROWS = _compiled_rows()


def _code_table(chars: str) -> np.ndarray:
    table = np.zeros(0x10000, dtype=bool)  # Basic Multilingual Plane; other code points map to the last slot
    table[[ord(c) for c in chars]] = True
    return table


_PUNCT_TABLE = _code_table(".,;:!?。、，．！？")
_END_TABLE = _code_table(".!?。！？…:\"'”»)")


def _text_stats(page: PageBlocks) -> np.ndarray:
    """Per block: characters, words, link density, punctuation per word, ends a sentence, digit share, mean word
    length, starts upper-case, depth (vectorised over the page's code points)."""
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
            n,
            words,
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
NEIGHBOUR_COLS = (0, 2, 3, 4)  # characters, link density, punctuation, sentence end


def _bits(values: np.ndarray, n: int) -> np.ndarray:
    return (values[:, None] >> np.arange(n)[None, :] & 1).astype(np.float64)


_PAGE = 9 + len(OWN_TAGS) + len(ANCESTOR_TAGS) + 2 * N_KEYWORDS  # first page column of a stage-1 row
# counts that enter as log1p: the block's characters and words, the page's characters and blocks, the window's and
# the 3 enclosing elements' characters, the neighbours' characters
LOG_COLUMNS = [
    0,
    1,
    _PAGE + 3,
    _PAGE + 4,
    _PAGE + 7,
    _PAGE + 8,
    _PAGE + 9,
    _PAGE + 10,
    _PAGE + 17,
    _PAGE + 21,
]


def features(page_blocks: PageBlocks, compiled: bool = True) -> np.ndarray:
    """One row per block: its own features, tag and class/id bits, page-relative position and size, and its
    neighbours' basics. The counts and ratios come from the compiled rows where they were built, else from the
    numpy twin; numpy takes the logarithms of LOG_COLUMNS in both cases, so the rows are the same bits either
    way."""
    if compiled and _ROWS is not None:
        numbers = np.ascontiguousarray(page_blocks.numbers, dtype=np.int64)
        rows = _ROWS.stage1_rows(
            page_blocks.texts,
            page_blocks.tags,
            numbers,
            _OWN_INDEX,
            _OWN_GROUP,
            len(OWN_TAGS),
            len(ANCESTOR_TAGS),
            N_KEYWORDS,
        )
    else:
        rows = _stage1_counts(page_blocks)
    counts = rows[:, LOG_COLUMNS]
    rows[:, LOG_COLUMNS] = np.log1p(counts, out=counts, where=counts >= 0)  # a missing neighbour stays -1
    return rows


def _stage1_counts(page_blocks: PageBlocks) -> np.ndarray:
    """`features` before the logarithms (the numpy twin of `_block_rows.stage1_rows`)."""
    own = _text_stats(page_blocks)
    k = len(own)
    tags = np.zeros((k, len(OWN_TAGS)))
    tags[
        np.arange(k), [_OWN_INDEX.get(_OWN_GROUP.get(t, t), len(OWN_TAGS) - 1) for t in page_blocks.tags]
    ] = 1.0
    chars = own[:, 0]
    total = chars.sum()  # whole numbers: exact in any order
    before = np.cumsum(chars) - chars
    depth = own[:, 8]
    window_chars = _window(_cumulative(chars), 2)
    page = np.column_stack(
        [
            np.arange(k) / max(1, k - 1),
            before / max(1.0, total),
            chars / max(1.0, total),
            np.full(k, total),
            np.full(k, float(k)),
            depth - np.median(depth),
            # link density and characters of the 5-block window around each block
            _window(_cumulative(np.minimum(page_blocks.column("link_chars"), chars)), 2)
            / np.maximum(1.0, window_chars),
            window_chars,
        ]
    )
    containers = page_blocks.numbers[:, NUMBERS.index("container1_chars") :].astype(np.float64)
    cont_chars, cont_links = containers[:, 0::2], containers[:, 1::2]
    enclosing = np.hstack(
        [cont_chars, cont_chars / max(1.0, total), cont_links / np.maximum(1.0, cont_chars)]
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


def _cumulative(values: np.ndarray) -> np.ndarray:
    """Running sums of `values` after a leading 0: the sum of values[a:b] is c[b] - c[a]."""
    return np.concatenate([[0.0], np.cumsum(values)])


def _window(cum: np.ndarray, radius: int) -> np.ndarray:
    """Per position, the sum of the values within `radius` of it, from their running sums `cum` (_cumulative)."""
    n = len(cum) - 1
    idx = np.arange(n)
    lo, hi = np.maximum(0, idx - radius), np.minimum(n, idx + radius + 1)
    return cum[hi] - cum[lo]


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
CONTEXT_LOG_COLUMNS = [
    14,
    15,
    21,
    23,
]  # blocks to the nearest confident one, confident blocks, characters: log1p


def context_features(p: np.ndarray, page_blocks: PageBlocks) -> np.ndarray:
    """Stage-2 rows: each block's stage-1 P in its page context (main text is contiguous): its own P, its
    neighbours' at +-1 and +-2 (-1 past the page's ends), mean P of the 3, 7 and 21-block windows around it,
    character-weighted mean P of the 5 and 21-block windows and of its 3 nearest enclosing block elements, whether
    it lies between the first and last confidently main blocks (P >= CONFIDENT_P), the blocks to the nearest one
    before and after it, the characters between it and that span (page share), page-level P statistics (max,
    mean, character-weighted mean, confident character share, log confident blocks), P relative to the page's
    max, and log characters. Sums are running sums (cumsum), so the compiled twin gives the same bits."""
    k = len(p)
    out = np.empty((k, N_CONTEXT))
    chars = np.fromiter(map(len, page_blocks.texts), np.float64, k)
    pc = p * chars
    total = max(1.0, chars.sum())
    cum_p, cum_pc, cum_chars = _cumulative(p), _cumulative(pc), _cumulative(chars)
    idx = np.arange(k)
    out[:, 0] = p
    out[:, 1:5] = -1.0
    out[1:, 1], out[2:, 2], out[:-1, 3], out[:-2, 4] = p[:-1], p[:-2], p[1:], p[2:]
    for col, radius in ((5, 1), (6, 3), (7, 10)):
        out[:, col] = _window(cum_p, radius) / _window(np.arange(k + 1.0), radius)
    for col, radius in ((8, 2), (9, 10)):
        out[:, col] = _window(cum_pc, radius) / np.maximum(1.0, _window(cum_chars, radius))
    for level in range(3):
        starts = _container_runs(page_blocks, level)
        ends = np.append(starts[1:], k)
        share = (cum_pc[ends] - cum_pc[starts]) / np.maximum(1.0, cum_chars[ends] - cum_chars[starts])
        out[:, 10 + level] = np.repeat(share, ends - starts)
    confident = p >= CONFIDENT_P
    conf = np.flatnonzero(confident)
    if len(conf):
        first, last = conf[0], conf[-1]
        prev_conf = np.maximum.accumulate(np.where(confident, idx, -1))
        next_conf = np.minimum.accumulate(np.where(confident, idx, k)[::-1])[::-1]
        before = cum_chars[:-1]  # characters before each block
        out[:, 13] = (idx >= first) & (idx <= last)
        out[:, 14] = np.where(prev_conf >= 0, idx - prev_conf, k)
        out[:, 15] = np.where(next_conf < k, next_conf - idx, k)
        gap = np.where(
            idx < first,
            before[first] - before - chars,
            np.where(idx > last, before - (before[last] + chars[last]), 0),
        )
        out[:, 16] = gap / total
    else:
        out[:, 13] = 0.0
        out[:, 14:16] = k
        out[:, 16] = 1.0
    p_max = p.max()
    out[:, 17] = p_max
    out[:, 18] = cum_p[k] / k
    out[:, 19] = cum_pc[k] / total
    out[:, 20] = chars[confident].sum() / total
    out[:, 21] = len(conf)
    out[:, 22] = p / max(1e-9, p_max)
    out[:, 23] = chars
    out[:, CONTEXT_LOG_COLUMNS] = np.log1p(out[:, CONTEXT_LOG_COLUMNS])
    return out


def stage2_rows(p: np.ndarray, page_blocks: PageBlocks, x: np.ndarray, compiled: bool = True) -> np.ndarray:
    """Stage-2 input rows: context_features(p, page_blocks) next to the stage-1 rows `x` (compiled where built,
    the same bits as the numpy twin)."""
    if compiled and _ROWS is not None:
        chars = np.fromiter(map(len, page_blocks.texts), np.float64, len(p))
        span_column = NUMBERS.index("container1_chars")
        numbers = np.ascontiguousarray(page_blocks.numbers, dtype=np.int64)
        p, x = np.ascontiguousarray(p, dtype=np.float64), np.ascontiguousarray(x, dtype=np.float64)
        rows = _ROWS.stage2_rows(p, chars, numbers, span_column, x, N_CONTEXT, CONFIDENT_P)
        rows[:, CONTEXT_LOG_COLUMNS] = np.log1p(rows[:, CONTEXT_LOG_COLUMNS])
        return rows
    return np.hstack([context_features(p, page_blocks), x])
