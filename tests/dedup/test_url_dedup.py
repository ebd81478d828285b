"""url_dedup: URL normalisation and the stage's keep-first rule."""

from __future__ import annotations

import pyarrow as pa
from dedup_corpus import run_stage

from curation.dedup.url import UrlDedup, normalize_url


def test_normalize_url_equates_trivial_variants_only():
    same = [
        "https://www.Example.com/a/b/?y=2&x=1#top",
        "http://example.com:80/a/b?x=1&y=2&utm_source=news",
        "HTTPS://example.COM:443/a/b/?x=1&y=2",
    ]
    assert len({normalize_url(u) for u in same}) == 1
    different = [
        "https://example.com/a/B?x=1&y=2",
        "https://example.com:8080/a/b?x=1&y=2",
        "https://example.com/a/b?x=2&y=2",
    ]
    assert len({normalize_url(u) for u in [same[0], *different]}) == 4
    assert normalize_url("not a url") is None and normalize_url("http://[::1") is None


def test_url_dedup_keeps_the_first_row_of_each_url(ray_local, tmp_path):
    urls = [
        "https://a.org/x",
        "http://www.a.org/x/",
        None,
        "",
        "https://b.org/",
        "https://a.org/x#frag",
        None,
        "::",
    ]
    table = pa.table({"id": [f"r{i}" for i in range(len(urls))], "url": urls})
    out = run_stage(UrlDedup(), table, tmp_path)
    assert out.column("_drop").to_pylist() == [
        None,
        "duplicate_url",
        None,
        None,
        None,
        "duplicate_url",
        None,
        None,
    ]
    tagged = run_stage(UrlDedup(tag_only=True), table, tmp_path / "tag")
    assert "_drop" not in tagged.column_names
    assert tagged.column("url_duplicate").to_pylist() == [
        False,
        True,
        False,
        False,
        False,
        True,
        False,
        False,
    ]
