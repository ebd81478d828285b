"""The compiled html_blocks walk returns exactly what the Python walk returns, on real pages and on cases
built to hit its edges (entities in attributes, multi-byte text, links around blocks, valueless attributes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from curation.ops import html_blocks
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
    "<script>var x = 1;</script><style>p{}</style><p>after skipped tags<!-- a comment --> still here</p>",
]


def _compiled():
    walker = html_blocks._compiled_walk()
    if walker is None:
        if shutil.which("cc") or shutil.which("gcc"):
            pytest.fail(
                "curation/ops/_html_walk is not built although a C compiler is here: pip install -e ."
            )
        pytest.skip(
            "no C compiler here, so the compiled walk was not built (html_blocks uses the Python walk)"
        )
    return walker


def _demo_pages(n: int) -> list[str]:
    out = []
    for record in ArchiveIterator(str(DEMO_WARC), record_types=WarcRecordType.response, parse_http=True):
        out.append(decode_html(record.reader.read(), None)[0])
        if len(out) == n:
            break
    return out


def _both(html: str, compiled) -> tuple:
    results = []
    for walker in (html_blocks.walk, compiled):
        root = html_blocks.parse(html)
        assert root is not None
        page = html_blocks.blocks(root, walker=walker)
        results.append((page.texts, page.tags, page.numbers.tolist()))
    return results[0], results[1]


@pytest.mark.parametrize("html", EDGE_PAGES, ids=range(len(EDGE_PAGES)))
def test_compiled_walk_equals_python_walk_on_edge_cases(html):
    python, compiled = _both(html, _compiled())
    assert compiled == python


def test_compiled_walk_equals_python_walk_on_real_pages():
    compiled = _compiled()
    pages = _demo_pages(60)
    assert len(pages) == 60
    for html in pages:
        python, result = _both(html, compiled)
        assert result == python
        assert python[0], "a real page with no blocks"
