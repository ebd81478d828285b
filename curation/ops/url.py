"""URL filter: domain blocklist plus banned-word scoring of the URL (RefinedWeb section G.1 style)."""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa

from curation.ops.base import Filter, register, with_drop

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


@register("url_filter")
@dataclasses.dataclass
class UrlFilter(Filter):
    """Drop documents whose domain is blocklisted or whose URL is made of banned words.

    `blocklist`/`banned_words`/`soft_banned_words`: `default` (lists shipped with mmcurate), a file path, or `none`.
    A URL is dropped when its domain or any parent domain is listed (rule `blocklisted_domain`), when one of its
    tokens is a hard banned word (`banned_word`), or when it holds at least `soft_word_threshold` soft banned
    words (`soft_banned_words`). `extra_domains` adds domains inline.
    """

    requires = ("url",)
    provides = ()

    blocklist: str = "default"
    banned_words: str = "default"
    soft_banned_words: str = "default"
    soft_word_threshold: int = 3
    extra_domains: list[str] = dataclasses.field(default_factory=list)

    def setup(self) -> None:
        self._domains = set() if self.blocklist == "none" else _read_list(self.blocklist, "url_blocklist.txt")
        self._domains |= {d.lower() for d in self.extra_domains}
        self._hard = (
            set() if self.banned_words == "none" else _read_list(self.banned_words, "url_banned_words.txt")
        )
        self._soft = (
            set()
            if self.soft_banned_words == "none"
            else _read_list(self.soft_banned_words, "url_soft_words.txt")
        )

    def validate(self) -> None:
        if self.soft_word_threshold < 1:
            raise ValueError("soft_word_threshold must be >= 1")

    def _reason(self, url: str | None) -> str | None:
        if not url:
            return None
        domain = url_domain(url)
        parts = domain.split(".")
        if any(".".join(parts[i:]) in self._domains for i in range(len(parts))):
            return "blocklisted_domain"
        tokens = _TOKEN.findall(url.lower())
        if any(t in self._hard for t in tokens):
            return "banned_word"
        if sum(t in self._soft for t in tokens) >= self.soft_word_threshold:
            return "soft_banned_words"
        return None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        return with_drop(batch, [self._reason(u) for u in batch.column("url").to_pylist()])
