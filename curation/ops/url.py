"""URL filter: domain blocklist plus banned-word scoring of the URL (RefinedWeb section G.1 style)."""

from __future__ import annotations

import dataclasses
import re
import tarfile
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa

from curation.ops.base import POSITIVE, Filter, register, with_drop
from curation.ops.blocklist import (
    REFINEDWEB_CATEGORIES,
    HashedSet,
    hashed_ut1,
    installed_ut1,
    ut1_cached,
    ut1_categories,
)

_TOKEN = re.compile(r"[a-z0-9]+")


def _read_list(ref: str, default_name: str) -> set[str]:
    """`default` -> the list shipped with mmcurate; otherwise a path to a file with one entry per line."""
    if ref == "default":
        text = (resources.files("curation") / "resources" / default_name).read_text()
    else:
        path = Path(ref).expanduser()
        if not path.is_file():
            raise ValueError(f"list file {ref!r} does not exist")
        text = path.read_text()
    return {ln.strip().lower() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")}


def url_domain(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host.lower().removeprefix("www.")


def _url_entry(entry: str) -> str:
    """A blocklisted URL as UT1 writes it (no scheme), normalised like `_url_keys`."""
    return entry.lower().removeprefix("www.").rstrip("/")


# Keys longer than these are not looked up: no domain is longer than a DNS name (253 characters, RFC 1035), and
# listed URLs are far shorter than 8,192 characters (UT1's RefinedWeb categories: 138 and 146 at most). Without
# the bounds a URL with thousands of labels or path segments made quadratically many characters of keys (17 s for
# one 100 KB URL).
MAX_DOMAIN_KEY_CHARS = 253
MAX_URL_KEY_CHARS = 8192


def _domain_keys(domain: str) -> list[str]:
    """The domain and each parent domain, longest first, of at most MAX_DOMAIN_KEY_CHARS."""
    keys: list[str] = []
    for label in reversed(domain.split(".")):
        key = f"{label}.{keys[-1]}" if keys else label
        if len(key) > MAX_DOMAIN_KEY_CHARS:
            break
        keys.append(key)
    return keys[::-1]


def _url_keys(url: str, domain: str) -> list[str]:
    """host/path and every shorter path prefix at a `/` boundary (a listed URL blocks what lies under it), of at
    most MAX_URL_KEY_CHARS."""
    keys: list[str] = []
    key = domain
    for segment in urlsplit(url).path.split("/"):
        if segment:
            key = f"{key}/{segment}"
            if len(key) > MAX_URL_KEY_CHARS:
                break
            keys.append(key)
    return keys


def _load_blocklist(ref: str, categories: list[str]) -> tuple[HashedSet, HashedSet]:
    """(domains, urls): `default` (the tiny shipped list, for tests), `ut1` (an installed UT1 copy), a UT1
    directory or tarball, a file of domains (one per line), or `none`."""
    if ref == "none":
        return HashedSet(), HashedSet()
    if ref == "ut1":
        return hashed_ut1(installed_ut1(), categories, _url_entry)
    path = Path(ref).expanduser()
    if ref != "default" and (path.is_dir() or (path.is_file() and tarfile.is_tarfile(path))):
        return hashed_ut1(path, categories, _url_entry)
    return HashedSet(_read_list(ref, "url_blocklist.txt")), HashedSet()


@register("url_filter")
@dataclasses.dataclass
class UrlFilter(Filter):
    """Drop documents whose domain or URL is blocklisted (UT1, as RefinedWeb) or whose URL is made of banned words.

    `blocklist`: `ut1` (the UT1 list RefinedWeb used, 4.6M domains: $MMCURATE_UT1 or the copy datatrove ships),
    a UT1 directory or tarball (`<category>/domains`, `<category>/urls`), a file of domains, `default` (a tiny
    list for tests) or `none`; `blocklist_categories`: the UT1 categories to block (RefinedWeb's ten).
    `banned_words`/`soft_banned_words`: `default` (lists shipped with mmcurate), a file path, or `none`.
    A URL is dropped when its domain or any parent domain is listed (rule `blocklisted_domain`), when it or a
    path prefix of it is a listed URL (`blocklisted_url`), when one of its tokens is a hard banned word
    (`banned_word`), or when it holds at least `soft_word_threshold` soft banned words (`soft_banned_words`).
    `extra_domains` adds domains inline.
    """

    requires = ("url",)
    provides = ()

    ranges = {"soft_word_threshold": POSITIVE}

    blocklist: str = "default"
    banned_words: str = "default"
    soft_banned_words: str = "default"
    soft_word_threshold: int = 3
    extra_domains: list[str] = dataclasses.field(default_factory=list)
    blocklist_categories: list[str] = dataclasses.field(default_factory=lambda: list(REFINEDWEB_CATEGORIES))

    def setup(self) -> None:
        domains, self._urls = _load_blocklist(self.blocklist, self.blocklist_categories)
        self._domains = domains.union(d.lower() for d in self.extra_domains)
        self._hard = (
            set() if self.banned_words == "none" else _read_list(self.banned_words, "url_banned_words.txt")
        )
        self._soft = (
            set()
            if self.soft_banned_words == "none"
            else _read_list(self.soft_banned_words, "url_soft_words.txt")
        )

    def validate(self) -> None:
        for name in ("banned_words", "soft_banned_words"):
            ref = getattr(self, name)
            if ref not in ("default", "none") and not Path(ref).expanduser().is_file():
                raise ValueError(
                    f"{name}: list file {ref!r} does not exist; give `default`, `none` or a file path"
                )
        if (
            self.blocklist not in ("default", "none", "ut1")
            and not Path(self.blocklist).expanduser().exists()
        ):
            raise ValueError(
                f"blocklist: {self.blocklist!r} does not exist; give `ut1`, `default`, `none`, a file of domains, "
                "or a UT1 directory or tarball"
            )

    def preflight(self) -> None:
        """The UT1 copy is there and has the `blocklist_categories` (a flat, merged list has no categories)."""
        if self.blocklist in ("default", "none"):
            return
        source = installed_ut1() if self.blocklist == "ut1" else Path(self.blocklist).expanduser()
        if not (source.is_dir() or tarfile.is_tarfile(source)) or ut1_cached(
            source, self.blocklist_categories
        ):
            return  # a file of domains, or a tarball whose selection was read (and its categories seen) before
        available = ut1_categories(source)
        unknown = [c for c in self.blocklist_categories if c not in available]
        if available and unknown:
            raise ValueError(
                f"blocklist_categories: {', '.join(map(repr, unknown))} not in {str(source)!r}; "
                f"available: {', '.join(available)}"
            )

    def _listed(self, urls: list[str | None]) -> list[str | None]:
        """Per URL: `blocklisted_domain`, `blocklisted_url` or None, all URLs looked up in one pass per list."""
        domain_keys, domain_owner, url_keys, url_owner = [], [], [], []
        for i, url in enumerate(urls):
            if url:
                domain = url_domain(url)
                keys = _domain_keys(domain)
                domain_keys += keys
                domain_owner += [i] * len(keys)
                keys = _url_keys(url, domain)
                url_keys += keys
                url_owner += [i] * len(keys)
        by_domain = np.zeros(len(urls), dtype=bool)
        by_domain[np.asarray(domain_owner, dtype=np.int64)[self._domains.contains(domain_keys)]] = True
        by_url = np.zeros(len(urls), dtype=bool)
        by_url[np.asarray(url_owner, dtype=np.int64)[self._urls.contains(url_keys)]] = True
        return [
            "blocklisted_domain" if d else "blocklisted_url" if u else None
            for d, u in zip(by_domain.tolist(), by_url.tolist(), strict=True)
        ]

    def _reason(self, url: str | None) -> str | None:
        if not url:
            return None
        tokens = _TOKEN.findall(url.lower())
        if any(t in self._hard for t in tokens):
            return "banned_word"
        if sum(t in self._soft for t in tokens) >= self.soft_word_threshold:
            return "soft_banned_words"
        return None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        urls = batch.column("url").to_pylist()
        listed = self._listed(urls)
        return with_drop(batch, [hit or self._reason(u) for hit, u in zip(listed, urls, strict=True)])
