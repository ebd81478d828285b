"""The `blocks` extraction engine: its shipped model loads and keeps the main text of real pages."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa
from fastwarc.warc import ArchiveIterator, WarcRecordType

from curation.ops.html import HtmlExtract
from curation.ops.html_blocks import blocks, features, parse, shipped_model

DEMO_WARC = Path(__file__).resolve().parents[2] / "data" / "warc" / "demo.warc.gz"
N_PAGES = 40
PROSE = (
    "The committee met on Tuesday to review the proposal for the new library. Members agreed that the "
    "building should have more space for children and a quiet room for study. The mayor said that the city "
    "would pay for half of the cost, and that the rest would come from private donors."
)
COMMENT = "I went to the meeting as well, and I think the library should open on Sundays too."


def _demo_pages(n: int) -> list[tuple[str, bytes]]:
    out = []
    for record in ArchiveIterator(str(DEMO_WARC), record_types=WarcRecordType.response, parse_http=True):
        out.append((record.headers.get("WARC-Record-ID"), record.reader.read()))
        if len(out) == n:
            break
    return out


def _extract(payloads: list[bytes], **options) -> list[str | None]:
    table = pa.table(
        {
            "payload": payloads,
            "content_type": ["text/html"] * len(payloads),
            "http_charset": [None] * len(payloads),
        }
    )
    return HtmlExtract(engine="blocks", **options).evaluate(table).column("text").to_pylist()


def _f1(predicted: str, gold: str) -> float:
    tok = lambda s: Counter(re.findall(r"\w+", s.lower()))  # noqa: E731
    p, g = tok(predicted), tok(gold)
    overlap = sum((p & g).values())
    return 2 * overlap / (sum(p.values()) + sum(g.values())) if overlap else 0.0


def test_shipped_model_scores_real_page_blocks():
    model = shipped_model()
    record_id, payload = _demo_pages(1)[0]
    page = blocks(parse(payload.decode("utf-8", "replace")))
    x = features(page)
    assert x.shape == (len(page), model.n_features)
    p = model.proba(x)
    assert ((p >= 0) & (p <= 1)).all() and 0 < (p >= model.threshold_p).sum() < len(page)


def test_blocks_engine_keeps_main_text_of_real_pages(shared):
    """On demo pages with gold text, the engine's token F1 is high and well above keeping every block."""
    gold = {}
    for name in ("scrapinghub_aeb", "mozilla_readability"):
        with gzip.open(shared("extraction", f"{name}.jsonl.gz"), "rt", encoding="utf-8") as fh:
            gold.update({row["record_id"]: row["gold_text"] for row in map(json.loads, fh)})
    pages = [(rid, payload) for rid, payload in _demo_pages(150) if rid in gold][:N_PAGES]
    texts = _extract([payload for _, payload in pages])
    assert all(texts), "an empty extraction on a page with gold text"
    f1 = [_f1(text, gold[rid]) for text, (rid, _) in zip(texts, pages, strict=True)]
    everything = [
        _f1("\n".join(blocks(parse(payload.decode("utf-8", "replace"))).texts), gold[rid])
        for rid, payload in pages
    ]
    assert sum(f1) / len(f1) > 0.85
    assert sum(f1) / len(f1) > sum(everything) / len(everything) + 0.1


def test_comments_option_keeps_comment_sections():
    page = (
        "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article>"
        + f"<h1>Library plans</h1><p>{PROSE}</p><p>{PROSE}</p></article>"
        + f"<section id='comments'><div class='comment'><p>{COMMENT}</p></div></section>"
        + "<footer>Copyright 2024 The Town Paper</footer></body></html>"
    ).encode()
    without, with_ = _extract([page])[0], _extract([page], comments=True)[0]
    assert "committee met on Tuesday" in without and "committee met on Tuesday" in with_
    assert COMMENT in with_
    assert set(without.splitlines()) <= set(with_.splitlines())
