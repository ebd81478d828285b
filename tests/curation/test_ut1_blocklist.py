"""The UT1 reader on a small tarball (and directory) in UT1's layout, and url_filter with a UT1 blocklist."""

from __future__ import annotations

import io
import tarfile

import pyarrow as pa
import pytest

from curation.ops.blocklist import REFINEDWEB_CATEGORIES, installed_ut1, read_ut1
from curation.ops.url import UrlFilter

LISTS = {
    "blacklists/adult/domains": "casino-free-porn.example\nbad.example\n",
    "blacklists/adult/urls": "hosting.example/~user/adult\nwww.mixed.example/gallery/\n",
    "blacklists/gambling/domains": "# a comment\nbet.example\n",
    "blacklists/press/domains": "news.example\n",  # a category RefinedWeb does not block
    "blacklists/adult/usage": "black\n",
    "blacklists/README": "UT1 lists, CC BY-SA 4.0\n",
}


def _tarball(path):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in LISTS.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_reader_takes_only_the_selected_categories(tmp_path):
    domains, urls = read_ut1(_tarball(tmp_path / "blacklists.tar.gz"))
    assert sorted(domains) == ["bad.example", "bet.example", "casino-free-porn.example"]
    assert urls == ["hosting.example/~user/adult", "www.mixed.example/gallery/"]
    assert read_ut1(tmp_path / "blacklists.tar.gz", ["press"]) == (["news.example"], [])
    with pytest.raises(ValueError, match="no domains/urls"):
        read_ut1(tmp_path / "blacklists.tar.gz", ["no_such_category"])
    with pytest.raises(ValueError, match="neither a directory nor a tarball"):
        read_ut1(tmp_path / "missing")


def test_reader_on_an_unpacked_directory(tmp_path):
    for name, text in LISTS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert sorted(read_ut1(tmp_path / "blacklists")[0]) == [
        "bad.example",
        "bet.example",
        "casino-free-porn.example",
    ]
    assert "gambling" in REFINEDWEB_CATEGORIES and "press" not in REFINEDWEB_CATEGORIES


def test_url_filter_with_a_ut1_tarball(tmp_path):
    op = UrlFilter(
        blocklist=str(_tarball(tmp_path / "ut1.tgz")), banned_words="none", soft_banned_words="none"
    )
    op.setup()
    urls = [
        "https://www.bad.example/anything",  # listed domain, www. ignored
        "http://cdn.bet.example/x",  # a subdomain of a listed domain
        "https://hosting.example/~user/adult/page.html",  # under a listed URL
        "https://hosting.example/~user/other",  # same host, not listed
        "https://mixed.example/gallery",  # a listed URL (its www. and trailing slash ignored)
        "https://news.example/story",  # category not selected
        None,
    ]
    drops = op.evaluate(pa.table({"url": urls})).column("_drop").to_pylist()
    assert drops == [
        "blocklisted_domain",
        "blocklisted_domain",
        "blocklisted_url",
        None,
        "blocklisted_url",
        None,
        None,
    ]


def test_installed_ut1_copy_blocks_listed_domains():
    try:
        installed_ut1()
    except ValueError as err:
        pytest.skip(str(err))
    op = UrlFilter(blocklist="ut1", banned_words="none", soft_banned_words="none")
    op.setup()  # a few CPU seconds the first time, then from the hash cache
    assert len(op._domains) > 4_000_000  # RefinedWeb: ~4.6M domains
    urls = [
        "https://www.0-1sex.com/",
        "http://mail.0-800-email.com/x",
        "https://en.wikipedia.org/wiki/Toulouse",
    ]
    drops = op.evaluate(pa.table({"url": urls})).column("_drop").to_pylist()
    assert drops == ["blocklisted_domain", "blocklisted_domain", None]


def test_badwords_density_rule(tmp_path):
    from curation.ops.badwords import BadWordsFilter

    (tmp_path / "words.txt").write_text("damn\n")
    op = BadWordsFilter(words=str(tmp_path / "words.txt"), max_ratio=0.02)
    op.setup()
    prose = "the council met to talk about the new library and its garden " * 10  # 120 words
    texts = [prose + "damn", prose + "damn " * 5, "damn it"]
    out = op.evaluate(pa.table({"text": texts}))
    assert out.column("badword_count").to_pylist() == [1, 5, 1]
    assert out.column("_drop").to_pylist() == [None, "badwords", "badwords"]
