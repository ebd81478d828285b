"""The `blocks` engine's compiled parts equal their Python twins: the walk and the cut into blocks return exactly
what the Python walk and cut return, on real pages and on cases built to hit their edges (entities in attributes,
multi-byte text, links around blocks, valueless attributes, Unicode whitespace and word characters); the tree
scores equal the numpy evaluation to rounding, the feature rows equal their numpy twins bit for bit."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from curation.ops import block_features, html_blocks, html_walk, tree_ensemble
from curation.ops.html import decode_html

DEMO_WARC = Path(__file__).resolve().parents[2] / "data" / "warc" / "demo.warc.gz"
EDGE_PAGES = [
    "<html><body><p>plain</p></body></html>",
    "<div class='a&amp;b comment' id='x&lt;y'>entities in attributes. <a href='#'>link</a></div>",
    "<div class id=''>valueless class, empty id. Text.</div><p class=''>more</p>",
    "<p>caf\u00e9 \u00fcber na\u00efve \u2014 \U0001f600 emoji, \u4e2d\u6587\u6587\u672c.</p><li>\u0928\u092e\u0938\u094d\u0924\u0947</li>",
    "<a href='/'><div>block inside a link</div> tail in link</a> tail after link<p>next</p>",
    "text before any element<br>after br<hr>after hr",
    "<table><tr><td class='nav menu'>one</td><td id='main-content'>two <b>bold</b> end.</td></tr></table>",
    "<div class='post'><div class='share'><div class='comment'><div class='meta'><p>four deep</p></div></div></div></div>",
    "<ul>" + "".join(f"<li><a href='/{i}'>item {i}</a></li>" for i in range(30)) + "</ul>",
    "<div>" * 300 + "deep" + "</div>" * 300,
    "<p>   </p><p>\u00a0</p><p>...</p><p>_</p>",
    "<html><body></body></html>",
    "<a href='#'>in link<svg><text>svg text</text></svg> tail of svg in link</a><noscript><p>gone</p></noscript>x",
    "<script>var x = 1;</script><style>p{}</style><p>after skipped tags<!-- a comment --> still here</p>",
    "<p>a\u00a0\u00a0b\u3000c\u2003 d\t\te</p><p> lead and trail </p><p>x\u200by</p><p>one space only.</p>",
    "<p>\u0661\u0662</p><p>\u2460</p><p>\u00b7\u2014</p><p>\u3000</p><p>\u1680\u2028\u0085</p><p>a  b</p>",
    # hidden elements: styles in any case and spacing, entities, non-ASCII look-alikes, repeated attributes
    "<p>a</p><div STYLE=' Display :\tNONE ;color:red'><p>upper</p></div>tail<div style='visibility:hidden'>v</div>",
    "<span hidden>attr</span><i aria-hidden=' TRUE '>aria</i><b aria-hidden='false'>shown</b><p hidden=''>e</p>",
    "<html style='display:none'><body hidden><p>page hidden until its scripts run</p></body></html>",
    "<div style='display&#58;none'>entity</div><div style='displ\u00e4y:none'>umlaut</div><p>\u212aelvin</p>",
    "<div style='display:none' style=''>repeated</div><div aria-hidden='true' aria-hidden='false'>again</div>x",
]


def _built(compiled, module: str):
    """`compiled`, failing where a C compiler is here but `module` was not built, else skipping."""
    if compiled is None:
        if shutil.which("cc") or shutil.which("gcc"):
            pytest.fail(f"curation/ops/{module} is not built although a C compiler is here: pip install -e .")
        pytest.skip(f"no C compiler here, so {module} was not built (html_blocks uses its Python twin)")
    return compiled


def _compiled():
    return _built(html_walk._compiled_walk(), "_html_walk")


def _compiled_cut():
    return _built(html_walk._compiled_cut(), "_html_walk")


def _demo_pages(n: int) -> list[str]:
    out = []
    for record in ArchiveIterator(str(DEMO_WARC), record_types=WarcRecordType.response, parse_http=True):
        out.append(decode_html(record.reader.read(), None)[0])
        if len(out) == n:
            break
    return out


def _rows(page: html_walk.PageBlocks) -> tuple:
    return page.texts, page.tags, page.numbers.tolist(), page.bounds, page.local_keywords().tolist()


def _both(html: str, compiled, cut) -> tuple:
    """The blocks (and the keyworded elements' spans) by the Python walk and cut, and by the compiled ones."""
    results = []
    for walker, cutter in ((html_walk.walk, html_walk._cut), (compiled, cut)):
        root = html_walk.parse(html)
        assert root is not None
        results.append(_rows(html_walk.blocks(root, walker=walker, cutter=cutter)) + (walker(root)[2],))
    return results[0], results[1]


@pytest.mark.parametrize("html", EDGE_PAGES, ids=range(len(EDGE_PAGES)))
def test_compiled_walk_equals_python_walk_on_edge_cases(html):
    python, compiled = _both(html, _compiled(), _compiled_cut())
    assert compiled == python


def test_compiled_walk_equals_python_walk_on_real_pages():
    compiled, cut = _compiled(), _compiled_cut()
    pages = _demo_pages(60)
    assert len(pages) == 60
    for html in pages:
        python, result = _both(html, compiled, cut)
        assert result == python
        assert python[0], "a real page with no blocks"


def test_compiled_cut_equals_python_cut_on_the_same_marks():
    """Each whitespace character alone and in runs, word and non-word characters, spans with nothing in them."""
    cut = _compiled_cut()
    pieces = [
        " ",
        "  ",
        "\t",
        "\n",
        "\u00a0",
        "\u3000",
        "\u2028",
        "\u200b",
        "a",
        "_",
        "\u0661",
        "\u00b7",
        "-",
        "x y",
    ]
    text = "".join(pieces * 3)
    ctx = ("p", 1, 0, 0, 0, ([len(text), 2],))
    marks = [(end, min(end, 2), ctx) for end in range(0, len(text) + 1)]  # every 1-character span
    marks += [(end, 2, ctx) for end in range(0, len(text) + 1, 5)]  # back to the start: 5-character spans
    for chosen in (marks[: len(text) + 1], marks[len(text) + 1 :], marks):
        assert cut(text, chosen) == html_walk._cut(text, chosen)


def test_compiled_tree_scores_equal_numpy_evaluation():
    _built(tree_ensemble._compiled_scores(), "_tree_scores")
    model = html_blocks.shipped_model()
    for html in _demo_pages(20):
        page = html_walk.blocks(html_walk.parse(html))
        x = block_features.features(page)
        x2 = block_features.stage2_rows(model.stage1.proba(x), page, x)
        for ensemble, rows in ((model.stage1, x), (model.stage2, x2)):
            compiled, numpy = ensemble.proba(rows), ensemble.proba(rows, compiled=False)
            np.testing.assert_allclose(compiled, numpy, rtol=0, atol=1e-12)
            assert (compiled >= model.threshold).tolist() == (numpy >= model.threshold).tolist()


ROW_EDGE_PAGES = [
    "<p>one block only.</p>",
    "plain text, no block element",
    "<div><p>a</p><p>b</p></div><p>c</p>",
    "<p>\u00c9t\u00e9 2024: 12,5 % \u2014 fin.</p><p>\u01c5ungla \u2167 \U0001d400 astral \U0001f600</p>"
    "<li>\u3002\uff01\uff1f\u2026\u00bb\u201d)</li><td><a href='/'>all link</a></td><p>x<a href='/'>yy</a></p>",
]


def _row_pages() -> list[html_walk.PageBlocks]:
    pages = [html_walk.blocks(html_walk.parse(html)) for html in _demo_pages(40) + ROW_EDGE_PAGES]
    assert all(len(page) for page in pages)
    return pages


def test_compiled_stage1_rows_equal_numpy_twin_bit_for_bit():
    """Real pages and pages made to hit the edges (one block, no block element, Unicode upper case and
    punctuation, astral characters, linked text)."""
    _built(block_features._compiled_rows(), "_block_rows")
    for page in _row_pages():
        compiled, numpy = block_features.features(page), block_features.features(page, compiled=False)
        assert compiled.shape == numpy.shape
        np.testing.assert_array_equal(compiled, numpy)


def test_compiled_stage2_rows_equal_numpy_twin_bit_for_bit():
    """The same pages with their stage-1 P, and P made to hit the edges (no confident block, every block
    confident)."""
    _built(block_features._compiled_rows(), "_block_rows")
    model = html_blocks.shipped_model()
    for page in _row_pages():
        x = block_features.features(page)
        p = model.stage1.proba(x)
        for probas in (p, 0.4 * p, np.maximum(p, 0.9)):
            compiled = block_features.stage2_rows(probas, page, x)
            numpy = block_features.stage2_rows(probas, page, x, compiled=False)
            assert compiled.shape == numpy.shape == (len(page), block_features.N_CONTEXT + x.shape[1])
            np.testing.assert_array_equal(compiled, numpy)
    # strided inputs (as scikit-learn's predict_proba(x)[:, 1] gives them in training) are taken too
    strided = np.column_stack([1 - p, p])[:, 1]
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(
        block_features.stage2_rows(strided, page, x), block_features.stage2_rows(p, page, x)
    )


MANGLES = (
    "<",
    "</",
    "<!--",
    "&#",
    "&#x1F600;",
    "\x00",
    "<script>",
    "</p>",
    "<table><tr><td>",
    "<a href=",
    '"',
    "<![CDATA[",
    "<svg><foreignObject>",
    "<template>",
    "<div>" * 300,
    "</div>" * 50,
    "<li>" * 500,
    "\r\n\u00a0",
)


def _mangled(pages: list[str], n: int, seed: int = 0) -> list[str]:
    """`n` pages made from `pages` by inserting markup fragments, deleting, cutting and repeating spans."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        html = rng.choice(pages)
        for _ in range(rng.randint(1, 12)):
            pos, kind = rng.randrange(len(html) + 1), rng.random()
            if kind < 0.4:
                html = html[:pos] + rng.choice(MANGLES) + html[pos:]
            elif kind < 0.6:
                html = html[:pos] + html[pos + rng.randint(1, 2000) :]
            elif kind < 0.7:
                html = html[:pos]
            else:
                start = rng.randrange(len(html) + 1)
                html = html[:pos] + html[start : start + rng.randint(1, 3000)] + html[pos:]
        out.append(html)
    return out


def test_compiled_parts_equal_twins_on_mangled_pages():
    """Broken markup (unclosed and stray tags, NUL, cut pages, deep nesting) takes the compiled walk, cut and
    rows to the same blocks and bits as the Python twins (150 here; a one-off run over ~6,000 byte-level
    mutations of real pages found no difference either)."""
    compiled, cut = _compiled(), _compiled_cut()
    _built(block_features._compiled_rows(), "_block_rows")
    model = html_blocks.shipped_model()
    checked = 0
    for html in _mangled(_demo_pages(30), 150):
        if html_walk.parse(html) is None:  # nothing left to parse
            continue
        python, built = _both(html, compiled, cut)
        assert python == built
        page = html_walk.blocks(html_walk.parse(html))
        if len(page):
            checked += 1
            x = block_features.features(page)
            np.testing.assert_array_equal(x, block_features.features(page, compiled=False))
            p = model.stage1.proba(x)
            np.testing.assert_array_equal(
                block_features.stage2_rows(p, page, x), block_features.stage2_rows(p, page, x, compiled=False)
            )
    assert checked > 100
