"""The `blocks` extraction engine: its shipped model loads and keeps the main text of real pages."""

from __future__ import annotations

import gc
import gzip
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from curation.ops import html_blocks
from curation.ops.block_features import N_CONTEXT, context_features, features
from curation.ops.html import HtmlExtract
from curation.ops.html_blocks import (
    MODEL_RESOURCE,
    article_header,
    extract_blocks,
    in_comment_section,
    in_form,
    shipped_model,
)
from curation.ops.html_walk import blocks, parse
from curation.rows import NOTE
from curation.runner.accounting import StepStats
from curation.runner.executor import apply_op

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
    return HtmlExtract(**{"engine": "blocks", **options}).evaluate(table).column("text").to_pylist()


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
    assert x.shape == (len(page), model.stage1.n_features)
    stage1 = model.stage1.proba(x)
    assert model.stage2 is not None
    assert model.stage2.n_features == context_features(stage1, page).shape[1] + x.shape[1]
    p = model.proba(page)
    assert ((p >= 0) & (p <= 1)).all() and 0 < (p >= model.threshold).sum() < len(page)


def test_context_features_place_blocks_in_their_page():
    html = (
        "<html><body><div><p>First paragraph of prose.</p><p>Second paragraph of prose.</p></div>"
        "<ul><li>Home</li><li>About</li></ul><p>Closing words.</p><footer>Copyright</footer></body></html>"
    )
    page = blocks(parse(html))
    assert page.texts[:2] == ["First paragraph of prose.", "Second paragraph of prose."]
    p = np.array([0.9, 0.8, 0.1, 0.7, 0.2, 0.05])
    x = context_features(p, page)
    assert x.shape == (6, N_CONTEXT)
    assert x[:, 0].tolist() == p.tolist()
    assert x[1, 1] == 0.9 and x[1, 3] == 0.1 and x[0, 1] == -1.0  # neighbours' P, padded at the page start
    # the two paragraphs share their div's character-weighted P, the two list items their list's
    chars = np.array([len(t) for t in page.texts[:2]])
    assert x[0, 11] == x[1, 11] == pytest.approx((p[:2] * chars).sum() / chars.sum())
    assert x[2, 11] == x[3, 11] != x[0, 11]
    # between the first and last confident blocks (P >= 0.5): the paragraphs and the list; the characters
    # between a block and that span: the closing words' for the footer
    assert x[:, 13].tolist() == [1, 1, 1, 1, 0, 0]
    assert x[5, 16] == pytest.approx(len("Closing words.") / sum(map(len, page.texts)))
    assert (x[:5, 16] == 0).all()


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


def test_comments_keep_whole_comments_but_not_their_links():
    """`comments: true` keeps every block of a comment that is not mostly link text: comments without a sentence
    end and their author-and-date lines too; a reply link or a bare URL is left out."""
    texts = [
        "Thanks so much for stopping by and for leaving such a long comment on this one 🙂",
        "Der Minister sagte dazu nur „Wir werden das in aller Ruhe prüfen“",
        "Gruss aus der Schweiz",
        "Comment by Princo — 18.07, 2011 @ 10:44",
    ]
    links = ["<a href='#reply'>Reply</a>", "<a href='https://example.org/x'>https://example.org/x</a> see"]
    thread = "".join(
        f"<li class='comment'><p>{text}</p><p>{link}</p></li>"
        for text, link in zip(texts, links * 2, strict=True)
    )
    page = (
        f"<html><body><article><h1>Library plans</h1><p>{PROSE}</p><p>{PROSE}</p></article>"
        f"<section id='comments'><ol>{thread}</ol></section></body></html>"
    ).encode()
    without = _extract([page])[0].splitlines()
    with_ = _extract([page], comments=True)[0].splitlines()
    assert not any(text in without for text in texts)
    assert all(text in with_ for text in texts)
    assert not any(line in with_ for line in ("Reply", "https://example.org/x see"))


def test_comments_option_leaves_out_the_comment_form():
    """`comments: true` keeps the comments, not the comment box's form (WordPress's markup: notices and a consent
    label ending in a full stop), unless the form is page-wide, as ASP.NET Web Forms write every page."""
    notice = "Your email address will not be published. Required fields are marked *."
    consent = "Save my name, email, and website in this browser for the next time I comment."
    article = f"<article><h1>Library plans</h1><p>{PROSE}</p><p>{PROSE}</p></article>"
    comments = (
        f"<div id='comments' class='comments-area'><ol class='comment-list'><li class='comment'><p>{COMMENT}</p>"
        "</li></ol><div id='respond' class='comment-respond'><form id='commentform' class='comment-form'>"
        f"<p class='comment-notes'>{notice}</p><p class='comment-form-cookies-consent'><label>{consent}</label>"
        "</p></form></div></div>"
    )
    wordpress = f"<html><body>{article}{comments}</body></html>".encode()
    text = _extract([wordpress], comments=True)[0]
    assert COMMENT in text and notice not in text and consent not in text
    page = blocks(parse(wordpress.decode()))
    assert in_form(page).tolist() == [False, False, False, False, True, True]
    webforms = f"<html><body><form id='aspnetForm'>{article}{comments}</form></body></html>"
    assert not in_form(blocks(parse(webforms))).any()
    assert COMMENT in _extract([webforms.encode()], comments=True)[0]


def test_comments_option_leaves_out_recent_comment_widgets_and_the_reply_heading():
    """`comments: true` keeps no block of a comment-keyworded element that also names a "recent comments" widget
    (its items are links to comments on other posts) or the comment box (WordPress's `respond` round the "Leave a
    Reply" heading and the form); such words alone key no element, so the model's features do not change."""
    widget = (
        "<aside class='widget-area'><section id='recent-comments-2' class='widget widget_recent_comments'>"
        "<h2>Recent Comments</h2><ul id='recentcomments'><li class='recentcomments'><span>Ann Smith</span> on "
        "<a href='/p/1'>Budget</a></li></ul></section></aside>"
    )
    comments = (
        f"<div id='comments' class='comments-area'><ol class='comment-list'><li class='comment'><p>{COMMENT}</p>"
        "</li></ol><div id='respond' class='comment-respond'><h3 id='reply-title' class='comment-reply-title'>"
        "Leave a Reply</h3><form id='commentform'><p>Your email address will not be published.</p></form>"
        "</div></div>"
    )
    page = (
        f"<html><body><article><h1>Library plans</h1><p>{PROSE}</p><p>{PROSE}</p></article>{comments}{widget}"
        "</body></html>"
    )
    text = _extract([page.encode()], comments=True)[0].splitlines()
    assert COMMENT in text
    assert not {"Leave a Reply", "Recent Comments", "Ann Smith on Budget"} & set(text)
    page_blocks = blocks(parse(page))
    assert in_comment_section(page_blocks).tolist() == [False, False, False, True, False, False, False, False]
    plain = blocks(parse("<body><div class='recent latest'><p>a.</p></div><p>b.</p></body>"))
    assert plain.keyword_spans == [] and not plain.column("keywords").any()


def test_post_meta_keeps_the_article_header():
    """`post_meta: true` keeps the headline just before the kept text and the short, not link-dense lines between
    them (byline, date), not a share bar; no headline within reach of the text, no header. The `resiliparse`
    engine takes the option too, `trafilatura` refuses it."""
    header_lines = ["Library plans approved", "By Jane Doe", "March 3, 2024"]
    page = (
        "<html><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav><article>"
        f"<h1>{header_lines[0]}</h1><p class='byline'>{header_lines[1]}</p><p>{header_lines[2]}</p>"
        "<div class='share'><a href='/s'>Share</a> <a href='/t'>Tweet</a></div>"
        f"<p>{PROSE}</p><p>{PROSE}</p></article><footer>Copyright 2024 The Town Paper</footer></body></html>"
    )
    page_blocks = blocks(parse(page))
    keep = np.array([False] * 5 + [True, True, False])
    assert article_header(page_blocks, keep).tolist() == [False, True, True, True, False, False, False, False]
    assert not article_header(page_blocks, np.array([True] + [False] * 7)).any()
    far = blocks(parse(page.replace("<div class='share'>", "<p>a.</p>" * 15 + "<div class='share'>")))
    assert not article_header(far, np.arange(len(far)) >= len(far) - 3).any()
    without = _extract([page.encode()])[0].splitlines()
    with_ = _extract([page.encode()], post_meta=True)[0].splitlines()
    assert set(without) <= set(with_) and set(header_lines) <= set(with_) and "Share Tweet" not in with_
    assert PROSE in _extract([page.encode()], engine="resiliparse", post_meta=True)[0]
    with pytest.raises(ValueError, match="post_meta needs engine"):
        HtmlExtract(engine="trafilatura", post_meta=True).validate()


def test_blocks_model_option_loads_a_model_file(tmp_path):
    """`blocks_model` runs the op with another model file (here the shipped one with a stricter threshold), and
    bad settings are refused before a run (`validate`, `preflight`)."""
    payload = json.loads(resources.files("curation.resources").joinpath(MODEL_RESOURCE).read_text())
    # stricter than shipped, but some block of each page still passes it (else `select` keeps the page's best)
    payload["threshold"] = 0.9
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps(payload))
    payloads = [body for _, body in _demo_pages(8)]
    shipped = _extract(payloads, blocks_fallback_share=0)
    stricter = _extract(payloads, blocks_model=str(strict), blocks_fallback_share=0)
    assert sum(map(len, stricter)) < 0.95 * sum(map(len, shipped))
    with pytest.raises(ValueError, match="needs engine: blocks"):
        HtmlExtract(
            engine="trafilatura", trafilatura_fallback_chars=None, blocks_model=str(strict)
        ).validate()
    with pytest.raises(ValueError, match="cannot be loaded"):
        HtmlExtract(engine="blocks", blocks_model=str(tmp_path / "missing.json")).preflight()
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="cannot be loaded"):
        HtmlExtract(engine="blocks", blocks_model=str(tmp_path / "other.json")).preflight()


def test_blocks_falls_back_to_resiliparse_where_it_keeps_little():
    """Where `blocks` keeps at most `blocks_fallback_chars` characters and under `blocks_fallback_share` of what the
    `resiliparse` engine keeps, the page's text is resiliparse's; elsewhere, and with the share 0, `blocks`' own.
    `engine_column` says which it is."""
    payloads = [body for _, body in _demo_pages(152)]  # all of them
    other = _extract(payloads, engine="resiliparse", resiliparse_fallback_chars=None)
    alone = _extract(payloads, blocks_fallback_share=0)
    expected = [
        r if len(a) <= 1200 and len(a) < 0.6 * len(r) else a for a, r in zip(alone, other, strict=True)
    ]
    texts = _extract(payloads)
    assert texts == expected
    assert 0 < sum(t != a for t, a in zip(texts, alone, strict=True)) < 0.1 * len(payloads)
    op = HtmlExtract(engine="blocks", engine_column="text_engine")
    assert op.provided_columns() == ("text", "charset", "text_engine")
    assert HtmlExtract(engine="blocks").provided_columns() == ("text", "charset")
    table = pa.table({"payload": payloads, "content_type": ["text/html"] * 152, "http_charset": [None] * 152})
    out = op.evaluate(table)
    assert out.column("text").to_pylist() == texts
    assert out.column("text_engine").to_pylist() == [
        "resiliparse" if t != a else "blocks" for t, a in zip(texts, alone, strict=True)
    ]
    every_short_page = _extract(payloads, blocks_fallback_chars=10**9, blocks_fallback_share=1.0)
    assert every_short_page == [r if len(a) < len(r) else a for a, r in zip(alone, other, strict=True)]
    wet = pa.table(
        {"payload": [b"A WET record's text."], "content_type": ["text/plain"], "http_charset": ["utf-8"]}
    )
    assert op.evaluate(wet).column("text_engine").to_pylist() == [None]  # no HTML extracted
    for bad in ({"blocks_fallback_chars": -1}, {"blocks_fallback_share": 1.5}, {"engine_column": "text"}):
        with pytest.raises(ValueError, match="blocks_fallback|engine_column"):
            HtmlExtract(engine="blocks", **bad).validate()


def test_resiliparse_falls_back_to_blocks_where_it_keeps_little():
    """With `engine: resiliparse`, where resiliparse keeps at most `resiliparse_fallback_chars` characters (500)
    and `blocks` keeps more, the page's text is `blocks`'; elsewhere, and with the setting null, resiliparse's.
    A page both leave empty is still dropped as `empty_text`."""
    payloads = [body for _, body in _demo_pages(152)]
    alone = _extract(payloads, engine="resiliparse", resiliparse_fallback_chars=None)
    other = _extract(payloads, blocks_fallback_share=0)
    texts = _extract(payloads, engine="resiliparse")
    assert texts == [b if len(r) <= 500 and len(b) > len(r) else r for r, b in zip(alone, other, strict=True)]
    assert 0 < sum(t != r for t, r in zip(texts, alone, strict=True)) < 0.1 * len(payloads)
    assert "" in alone and "" not in texts  # resiliparse kept nothing of a page with text
    only_empty = _extract(payloads, engine="resiliparse", resiliparse_fallback_chars=0)
    assert only_empty == [r or b for r, b in zip(alone, other, strict=True)]
    op = HtmlExtract(engine="resiliparse", engine_column="text_engine")
    table = pa.table({"payload": payloads, "content_type": ["text/html"] * 152, "http_charset": [None] * 152})
    assert op.evaluate(table).column("text_engine").to_pylist() == [
        "blocks" if t != r else "resiliparse" for t, r in zip(texts, alone, strict=True)
    ]
    stats = StepStats("html_extract", "segment")  # each fallback is a note in the step's stats
    kept = apply_op(op, "html_extract", table, stats, None)
    assert stats.notes == {
        "html_extract:fell_back_to_blocks": sum(t != r for t, r in zip(texts, alone, strict=True))
    }
    assert NOTE not in kept.column_names and stats.balanced
    blank = pa.table(
        {
            "payload": [b"<html><body><div> </div></body></html>"],
            "content_type": ["text/html"],
            "http_charset": [None],
        }
    )
    assert op.evaluate(blank).column("_drop").to_pylist() == ["empty_text"]
    for bad in (
        {"resiliparse_fallback_chars": -1},
        {"resiliparse_fallback_chars": None, "blocks_model": "model.json"},
        {"engine": "trafilatura", "trafilatura_fallback_chars": None, "blocks_model": "model.json"},
        {"engine": "trafilatura", "trafilatura_fallback_chars": -1},
    ):
        with pytest.raises(ValueError, match="_fallback_chars|blocks_model"):
            HtmlExtract(**{"engine": "resiliparse", **bad}).validate()
    HtmlExtract(engine="resiliparse", blocks_model="model.json").validate()  # the fallback's model
    HtmlExtract(engine="trafilatura", blocks_model="model.json").validate()


def _forum_page(posts: int) -> bytes:
    """A forum thread: its posts in elements named for comments, a menu and a footer around them."""
    thread = "".join(
        f"<div class='comment'><p class='comment-body'>Post {i}: I bought this tent last spring and it kept us "
        "dry through three nights of rain, though the poles are heavier than the seller says.</p></div>"
        for i in range(posts)
    )
    return (
        "<html><head><title>Camping forum</title></head><body><nav><a href='/'>Home</a> <a href='/f'>Forums</a>"
        f"</nav><div id='comments'>{thread}</div><footer>Copyright 2020 Example Forums.</footer></body></html>"
    ).encode()


def test_trafilatura_falls_back_to_blocks_where_it_keeps_little():
    """With `engine: trafilatura`, where trafilatura keeps at most `trafilatura_fallback_chars` characters (100)
    and `blocks` keeps more, the page's text is `blocks`': trafilatura takes a forum thread's posts all for
    comments and, with `comments: false`, keeps nothing or the menu. Elsewhere, and with the setting null (as
    `pipelines/fineweb.yaml` has it), the text is trafilatura's own."""
    import trafilatura

    forum = [_forum_page(8), _forum_page(1)]
    alone = _extract(forum, engine="trafilatura", trafilatura_fallback_chars=None)
    assert [len(t or "") <= 100 for t in alone] == [True, True]  # the menu, or nothing
    assert alone == [
        trafilatura.extract(p.decode(), include_comments=False, include_tables=True) for p in forum
    ]
    texts = _extract(forum, engine="trafilatura")
    assert texts == _extract(forum, engine="blocks") and all("I bought this tent" in t for t in texts)
    payloads = [body for _, body in _demo_pages(30)]
    assert _extract(payloads, engine="trafilatura") == _extract(
        payloads, engine="trafilatura", trafilatura_fallback_chars=None
    )  # article pages keep trafilatura's text
    op = HtmlExtract(engine="trafilatura", engine_column="text_engine")
    table = pa.table({"payload": forum, "content_type": ["text/html"] * 2, "http_charset": [None] * 2})
    assert op.evaluate(table).column("text_engine").to_pylist() == ["blocks", "blocks"]
    stats = StepStats("html_extract", "segment")
    apply_op(op, "html_extract", table, stats, None)
    assert stats.notes == {"html_extract:fell_back_to_blocks": 2} and stats.balanced


def test_comment_sections_under_a_comments_open_body_class():
    """A comment keyword on an element round every block (WordPress's `comments-open` body class) says nothing
    of one block; the comment section below it still counts, on deep pages and on shallow ones, where the body
    is among each block's nearest keyworded ancestors."""
    article = (  # the nesting of WordPress's default themes
        "<div id='page' class='site'><div id='content' class='site-content'>"
        "<div id='primary' class='content-area'><main id='main' class='site-main'><article class='post'>"
        "<div class='entry-content'><p>The article's first paragraph.</p><p>Its second one.</p></div></article>"
    )
    sidebar = (
        "</main></div><aside id='secondary' class='widget-area'><section class='widget'><p>A sidebar.</p>"
    )
    comments = (
        "</section></aside><div id='comments' class='comments-area'><ol class='comment-list'>"
        "<li class='comment'><p>A reader's comment.</p></li></ol></div></div></div>"
    )
    for body in ("<body>", "<body class='single comments-open'>"):
        page = blocks(parse(f"{body}{article}{sidebar}{comments}</body>"))
        assert in_comment_section(page).tolist() == [False, False, False, True]
    everywhere = blocks(
        parse("<body class='comments-open'><div class='comment'><p>a.</p><p>b.</p></div></body>")
    )
    assert in_comment_section(everywhere).tolist() == [False, False]
    shallow = blocks(
        parse(
            "<body class='single comments-open'><article><p>a.</p><p>b.</p></article>"
            "<ol class='commentlist'><li><p>c.</p></li></ol></body>"
        )
    )
    assert in_comment_section(shallow).tolist() == [False, False, True]


def test_hidden_elements_are_left_out_but_never_the_page():
    """Text a browser does not render (a `hidden` attribute, aria-hidden, display:none / visibility:hidden in
    any case and spacing) is not a block, its tail is; a hidden `html` or `body` (pages that show themselves by
    script) still gives the page's text."""
    page = blocks(
        parse(
            "<p>one.</p><div style='Display : None'><p>styled</p></div>after the div "
            "<span hidden>attribute</span><i aria-hidden='true'>aria</i><b aria-hidden='false'>shown</b>"
            "<div style='color: red; visibility:hidden'>invisible</div><div style='display:block'>block</div>"
        )
    )
    assert page.texts == ["one.", "after the div shown", "block"]
    hidden_page = blocks(parse("<html style='display:none'><body hidden><p>the whole page</p></body></html>"))
    assert hidden_page.texts == ["the whole page"]


def test_utf8_pages_are_parsed_from_their_own_bytes_with_the_same_text():
    """The op hands `blocks` a UTF-8 page's own bytes (nothing encoded again); text and bytes give one output,
    and a page in another encoding still goes through its decoded text."""
    page = (
        "<html><body><nav><a href='/'>Startseite</a></nav><article><h1>Bibliothek</h1>"
        f"<p>Grüße aus Köln: {PROSE}</p><p>Straße, Maß und Fuß. {PROSE}</p></article></body></html>"
    )
    assert extract_blocks(page.encode()) == extract_blocks(page)
    assert "Grüße aus Köln" in extract_blocks(page.encode())
    latin1 = page.replace("<html>", "<html><head><meta charset='iso-8859-1'></head>").encode("latin-1")
    assert _extract([page.encode(), latin1], blocks_fallback_share=0) == [extract_blocks(page)] * 2


def _failing_walk(root):
    raise RuntimeError("walk")


def test_blocks_engine_leaves_the_garbage_collector_as_it_found_it(monkeypatch):
    """The collector is off while a page is walked (its tuples hold no cycles) and as it was after, an error
    inside included."""
    page = f"<html><body><article><p>{PROSE}</p></article></body></html>"
    during: list[bool] = []

    def walk_and_look(root):
        during.append(gc.isenabled())
        return blocks(root)

    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        try:
            with monkeypatch.context() as patch:
                patch.setattr(html_blocks, "blocks", walk_and_look)
                assert extract_blocks(page)
            assert gc.isenabled() is enabled
            with monkeypatch.context() as patch:
                patch.setattr(html_blocks, "blocks", _failing_walk)
                with pytest.raises(RuntimeError, match="walk"):
                    extract_blocks(page)
            assert gc.isenabled() is enabled
        finally:
            gc.enable()
    assert during == [False, False]
