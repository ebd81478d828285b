"""WARC -> interleaved documents: DOM order, image attachment from the same crawl, filters, accounting of
documents and images (real 2008 Heritrix crawl and a small crawl with every kind of bad input)."""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from curation.dedup.url import normalize_url
from curation.interleave.extract import HtmlInterleave, html_to_document
from curation.interleave.filters import InterleavedDocFilter, InterleavedImageFilter, InterleavedTextFilter
from curation.io.interleaved import to_table
from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit
from curation.io.warc import read_warc
from curation.recipe import load_recipe, parse_recipe
from curation.rows import ORDER
from curation.runner.run import run_recipe

BLACKBOOK = ("warc", "samples", "ipwb_IAH-20080430204825-00000-blackbook.warc.gz")


def _jpeg(width: int, height: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def test_dom_order_urls_and_alt():
    html = """<html><head><base href="/sub/"><title>t</title><script>var x = '<img src=no.jpg>';</script></head>
    <body><h1>Title words</h1><img src="a.jpg" alt=" first  image "><p>Para <b>one</b> text.<img src="//cdn.x/b.png">
    tail of one</p><!-- a comment --><ul><li>item</li></ul><img data-src="https://y/c.gif"><img src="data:image/png;base64,AA">
    <img><img src="mailto:x@y"></body></html>"""
    texts, images, dropped = html_to_document(html, "http://site.org/dir/page.html")
    assert texts == ["Title words", "Para one text.", "tail of one", "item"]
    assert [(i["url"], i["text_index"], i["alt"]) for i in images] == [
        ("http://site.org/sub/a.jpg", 1, "first image"),
        ("http://cdn.x/b.png", 2, None),
        ("https://y/c.gif", 4, None),  # after the last text
    ]
    assert [d["reason"] for d in dropped] == [
        "html_interleave:inline_data_uri", "html_interleave:no_src", "html_interleave:unsupported_scheme",
    ]  # fmt: skip


def test_an_xhtml_page_with_an_encoding_declaration_is_read():
    """An XML declaration naming an encoding (XHTML pages; one of the bundled demo crawl's pages): lxml refuses it
    in a str, so the page is parsed from its UTF-8 bytes, non-ASCII text intact."""
    html = (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml"><body>'
        '<p>Caf\u00e9 students, halls too full.</p><img src="/h.jpg"></body></html>'
    )
    texts, images, _ = html_to_document(html, "https://news.example/a")
    assert texts == ["Caf\u00e9 students, halls too full."]
    assert [i["url"] for i in images] == ["https://news.example/h.jpg"]


def test_text_filter_keeps_image_places_and_image_filter_rules():
    docs = to_table(
        [{"doc_id": "a", "texts": ["two words", "this one has five words", "x", "four words right here"],
          "images": [{"url": "i0", "text_index": 0}, {"url": "i1", "text_index": 2}, {"url": "i2", "text_index": 4}]}]
    )  # fmt: skip
    node_rules = InterleavedTextFilter()
    node_rules.setup()
    out = node_rules.map(docs).to_pylist()[0]
    assert out["texts"] == ["this one has five words", "four words right here"]
    assert [i["text_index"] for i in out["images"]] == [0, 1, 2] and out["dropped_texts"] == 2
    imgs = [_jpeg(200, 200), _jpeg(100, 300), _jpeg(500, 200), b"junk"]
    gif = io.BytesIO()
    __import__("PIL.Image").Image.new("RGB", (300, 300)).save(gif, "GIF")
    docs = to_table([{"doc_id": "b", "texts": ["t"], "images": [{"url": str(k), "bytes": b} for k, b in
                      enumerate([*imgs, gif.getvalue(), None])]}])  # fmt: skip
    out = InterleavedImageFilter().map(docs).to_pylist()[0]
    assert [(i["url"], i["width"], i["height"]) for i in out["images"]] == [("0", 200, 200)]
    assert [d["reason"].split(":", 1)[1] for d in out["dropped_images"]] == [
        "min_side", "aspect_ratio", "image:not_an_image", "format", "no_bytes",
    ]  # fmt: skip
    doc = InterleavedDocFilter(lang=None)
    doc.setup()
    many = to_table([{"doc_id": "c", "texts": ["word " * 12], "images": [{"url": "u"}] * 31}])
    assert doc.evaluate(many).column("_drop").to_pylist() == ["too_many_images"]


def test_pair_filters_run_on_each_image():
    from curation.interleave.image_op import InterleavedImageOp

    docs = to_table(
        [{"doc_id": "a", "texts": ["a red square on white", "x"],
          "images": [{"url": "u0", "bytes": _jpeg(300, 300), "text_index": 0, "width": 300, "height": 300},
                     {"url": "u1", "bytes": _jpeg(20, 300), "text_index": 1, "width": 20, "height": 300},
                     {"url": "u2", "bytes": b"junk", "text_index": 1}]}]
    )  # fmt: skip
    sizes = InterleavedImageOp(op="size_filter", params={"min_side": 150, "max_aspect_ratio": 2.0})
    sizes.setup()
    out = sizes.map(docs).to_pylist()[0]
    assert [i["url"] for i in out["images"]] == ["u0"]
    assert [d["reason"] for d in out["dropped_images"]] == ["size_filter:min_side", "size_filter:min_side"]
    nsfw = InterleavedImageOp(op="nsfw_filter", params={"threshold": 0.1})  # MMC4's NSFW threshold
    nsfw.setup()
    out = nsfw.map(docs).to_pylist()[0]
    assert out["dropped_images"] == [{"url": "u2", "reason": "nsfw_filter:image:not_an_image"}]
    with pytest.raises(ValueError, match="thresh"):
        InterleavedImageOp(op="nsfw_filter", params={"thresh": 0.1}).validate()
    with pytest.raises(ValueError, match="row-local filter"):
        InterleavedImageOp(op="phash_dedup").validate()


def _image_accounting(out: Path) -> tuple[int, int, Counter]:
    """Images of output documents, images of rejected documents, and images dropped by reason (output + rejects)."""
    held, dropped = {"data": 0, "rejects": 0}, Counter()
    for folder in held:
        table = pads.dataset(out / folder).to_table()
        if "texts" not in table.column_names:
            continue
        for row in table.select(["texts", "images", "dropped_images"]).to_pylist():
            if row["texts"] is not None:
                held[folder] += len(row["images"] or [])
                dropped.update(d["reason"] for d in row["dropped_images"] or [])
    return held["data"], held["rejects"], dropped


@pytest.mark.slow
def test_obelics_recipe_on_the_real_heritrix_crawl(ray_local, shared, tmp_path):
    """Item 2 of issue 13: documents whose images carry the bytes of the same WARC's responses; missing images
    counted by reason; filters counted per rule; accounting identity for documents and images."""
    warc = shared(*BLACKBOOK)
    recipe = load_recipe(
        "pipelines/obelics.yaml",
        ["steps[4].interleaved_doc_filter.min_images=0", "steps[6].interleaved_doc_filter.min_images=0"],
    )
    result = run_recipe(recipe, output=str(tmp_path / "out"), inputs=[str(warc)])
    stats = result.stats
    assert stats["totals"]["identity_holds"]
    steps = {s["step"]: s for s in stats["steps"]}
    assert steps["attach_images"]["dropped"] == {"attach_images:image_response": 55}
    rows = pa.concat_tables(read_warc(Unit(0, str(warc), "warc"), ReaderStats(), 1000))
    responses = {}
    for url, ctype, payload in zip(
        *(rows.column(c).to_pylist() for c in ("url", "content_type", "payload")), strict=True
    ):
        if (ctype or "").startswith("image/"):
            responses.setdefault(normalize_url(url), payload)
    extracted = HtmlInterleave().evaluate(rows)
    images_read = sum(len(i or []) for i in extracted.column("images").to_pylist())
    kept, in_rejected, dropped = _image_accounting(tmp_path / "out")
    assert kept + in_rejected + sum(dropped.values()) == images_read == 858
    assert dropped["attach_images:not_in_crawl"] == 34 and kept > 0
    assert {r.split(":")[0] for r in dropped} == {"attach_images", "interleaved_image_filter"}
    docs = pads.dataset(tmp_path / "out" / "data").to_table().to_pylist()
    for doc in docs:
        for img in doc["images"]:  # the bytes are the crawl's response for that URL
            assert (
                img["bytes"] == responses[normalize_url(img["url"])]
                and min(img["width"], img["height"]) >= 150
            )
    assert steps["interleaved_doc_filter"]["dropped"]  # filters count per rule
    assert all(r.startswith("interleaved_doc_filter:") for r in steps["interleaved_doc_filter"]["dropped"])
    _image_dedup_matches_brute_force(tmp_path)


def _image_dedup_matches_brute_force(tmp_path: Path) -> None:
    """The image dedup stage (pHash within 5 bits or equal URL) on the crawl's documents as `attach_images` left
    them (logos and rating stars on hundreds of pages), against union-find over every pair of images."""
    import numpy as np
    import ray

    from curation.dedup.phash import image_phash
    from curation.interleave.image_dedup import InterleavedImageDedup
    from curation.stagekit.context import StageContext

    (attached,) = (tmp_path / "out" / "_work").glob("p01_stage_attach_images")
    files = sorted(str(p) for p in (attached / "blocks").glob("*.parquet"))
    docs = pads.dataset(files).to_table(columns=[ORDER, "images"]).sort_by(ORDER).to_pylist()
    nodes = [(d[ORDER], i, img) for d in docs for i, img in enumerate(d["images"])]
    hashes = np.array([image_phash(img["bytes"]) for _, _, img in nodes], np.uint64)
    urls = [normalize_url(img["url"]) for _, _, img in nodes]
    parent = list(range(len(nodes)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    near = np.bitwise_count(hashes[:, None] ^ hashes[None, :]) <= 5
    for a, b in zip(*np.nonzero(near | (np.array(urls)[:, None] == np.array(urls)[None, :])), strict=True):
        parent[find(a)] = find(b)
    roots = [find(a) for a in range(len(nodes))]
    size, seen, expected = Counter(roots), set(), {}
    for (order, i, _), root in zip(nodes, roots, strict=True):
        if size[root] > 10:
            expected[(order, i)] = "interleaved_image_dedup:frequent"
        elif (order, root) in seen:
            expected[(order, i)] = "interleaved_image_dedup:in_document"
        seen.add((order, root))
    ctx = StageContext(
        work_dir=tmp_path / "dedup", seed=0, num_workers=2, resume=True, input_files=tuple(files)
    )
    out = pa.concat_tables(
        ray.get(InterleavedImageDedup().run(ray.data.read_parquet(files), ctx).to_arrow_refs())
    )
    found = {}
    for order, images, gone in zip(
        *(out.column(c).to_pylist() for c in (ORDER, "images", "dropped_images")), strict=True
    ):
        before = {(o, i): img["url"] for o, i, img in nodes if o == order}
        kept = iter(images)
        for (o, i), url in sorted(before.items()):
            if (o, i) not in expected:
                assert next(kept)["url"] == url
        found.update({k: v for k, v in expected.items() if k[0] == order})
        assert [d["reason"] for d in gone if d["reason"].startswith("interleaved_image_dedup")] == [
            expected[k] for k in sorted(before) if k in expected
        ]
    assert found == expected and Counter(expected.values()) == {
        "interleaved_image_dedup:frequent": 775, "interleaved_image_dedup:in_document": 9,
    }  # fmt: skip


def _crawl(path: Path) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    def record(url: str, ctype: str, body: bytes) -> None:
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        writer.write_record(
            writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
        )

    page = (
        b"<html><body><p>Words before the picture of the red square, long enough to keep.</p>"
        b"<img src='/red.jpg' alt='red'><p>Between the images there is more text to read here.</p>"
        b"<img src='http://www.site.org/missing.jpg'><img src='broken.jpg'><img src='/page2.html'>"
        b"<img src='data:image/gif;base64,R0lGOD'><p>And the closing words of this page.</p></body></html>"
    )
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        record("http://site.org/index.html", "text/html", page)
        record(
            "http://site.org/empty.html",
            "text/html; charset=utf-8",
            b"<html><body><img src='/red.jpg'></body></html>",
        )
        record(
            "https://www.site.org/red.jpg#x", "image/jpeg", _jpeg(240, 200)
        )  # scheme / www / fragment differ
        record("http://site.org/broken.jpg", "image/jpeg", _jpeg(240, 200)[:40])
        record("http://site.org/page2.html", "text/html", b"<html><body><p>just text</p></body></html>")
        record("http://site.org/style.css", "text/css", b"p {}")


@pytest.mark.slow
def test_bad_input_is_counted_never_a_crash(ray_local, tmp_path):
    """Item 4 of issue 13: an image URL that never resolves, a URL that is not an image, a truncated image,
    HTML with no text, an MMC4 document whose index is out of range and one whose matrix has the wrong shape."""
    _crawl(tmp_path / "crawl.warc.gz")
    recipe = parse_recipe(
        {"name": "bad", "input": {"format": "warc", "paths": [str(tmp_path / "crawl.warc.gz")]},
         "output": {"rejects": True}, "steps": [{"html_interleave": {}}, {"attach_images": {}}]}
    )  # fmt: skip
    result = run_recipe(recipe, output=str(tmp_path / "warc_out"))
    steps = {s["step"]: s for s in result.stats["steps"]}
    assert result.stats["totals"]["identity_holds"]
    assert steps["html_interleave"]["dropped"] == {
        "html_interleave:no_text": 1, "html_interleave:unsupported_content_type": 1,
    }  # fmt: skip
    assert steps["attach_images"]["dropped"] == {"attach_images:image_response": 2}
    kept, in_rejected, dropped = _image_accounting(tmp_path / "warc_out")
    assert (kept, in_rejected) == (
        1,
        1,
    ) and dropped == {  # the image of the page without text is in its reject
        "attach_images:not_in_crawl": 1,
        "attach_images:image:truncated": 1,
        "attach_images:not_an_image_response": 1,
        "html_interleave:inline_data_uri": 1,
    }
    doc, page2 = pads.dataset(tmp_path / "warc_out" / "data").to_table().to_pylist()
    assert page2["url"] == "http://site.org/page2.html" and page2["texts"] == ["just text"]
    assert doc["images"][0]["url"] == "http://site.org/red.jpg" and doc["images"][0]["text_index"] == 1

    good = {"url": "u", "text_list": ["a b", "c d"], "similarity_matrix": [[0.1, 0.2]],
            "image_info": [{"raw_url": "i", "matched_text_index": 1, "matched_sim": 0.2}]}  # fmt: skip
    lines = [good, good | {"image_info": [{"raw_url": "i", "matched_text_index": 5}]},
             good | {"similarity_matrix": [[0.1, 0.2, 0.3]]}]  # fmt: skip
    with gzip.open(tmp_path / "docs.jsonl.gz", "wt") as fh:
        fh.write("\n".join(json.dumps(line) for line in lines) + "\n")
    result = run_recipe(load_recipe("pipelines/mmc4.yaml"), output=str(tmp_path / "mmc4_out"),
                        inputs=[str(tmp_path / "docs.jsonl.gz")])  # fmt: skip
    steps = {s["step"]: s for s in result.stats["steps"]}
    assert result.stats["totals"]["identity_holds"]
    assert steps["read"]["errors"] == {"mmc4:text_index_out_of_range": 1}
    assert steps["mmc4_assign"]["errors"] == {"mmc4_assign:similarity_matrix_shape": 1}
