"""URL dedup: the first row (in input order) of each normalised URL is kept."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray.data
import xxhash

from curation.dedup.exact import mark_later_duplicates
from curation.dedup.grouping import map_groups_local, partitions_for
from curation.ops.base import DROP, Stage, register, set_column
from curation.runner.context import StageContext

KEY = "_url_key"
NO_URL = "_no_url"
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str) -> str | None:
    """Scheme-less, lower-case host without `www.` and default port, no fragment, no trailing slash,
    query parameters sorted with `utm_*` tracking parameters removed. None for a URL without a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").removeprefix("www.")
    if not host:
        return None
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("utm_")
    )
    path = parts.path.rstrip("/")
    return f"{host}{path}" + (f"?{urlencode(query)}" if query else "")


def url_keys(urls: list[str | None]) -> np.ndarray:
    """xxh3 of each normalised URL; rows without a usable URL get 0 (they are never duplicates)."""
    out = np.zeros(len(urls), dtype=np.uint64)
    for i, url in enumerate(urls):
        norm = normalize_url(url) if url else None
        if norm is not None:
            out[i] = xxhash.xxh3_64_intdigest(norm.encode()) | 1
    return out


def _mark(part: pa.Table, tag_only: bool) -> pa.Table:
    no_url = part.column(NO_URL)
    marked = mark_later_duplicates(part.drop_columns([NO_URL]), KEY, "duplicate_url")
    drop = pc.if_else(no_url, pa.nulls(len(no_url), pa.string()), marked.column(DROP))
    if tag_only:
        return set_column(marked.drop_columns([DROP]), "url_duplicate", pc.is_valid(drop))
    return set_column(marked, DROP, drop)


@register("url_dedup")
@dataclasses.dataclass
class UrlDedup(Stage):
    """Drop rows whose normalised URL was seen before in input order (rule `duplicate_url`).

    Normalisation: scheme ignored, host lower-cased without `www.` and default port, fragment and trailing
    slash removed, query parameters sorted and `utm_*` ones removed. Rows without a URL (null, empty, no host)
    pass through. `column` names the URL column (default `url`); `tag_only: true` keeps every row and writes a
    boolean `url_duplicate` instead.
    """

    requires = ("url",)

    column: str = "url"

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        column = self.column

        def add_key(batch: pa.Table) -> pa.Table:
            keys = url_keys(batch.column(column).to_pylist())
            batch = batch.append_column(KEY, pa.array(keys, pa.uint64()))
            return batch.append_column(NO_URL, pa.array(keys == 0))

        keyed = ds.map_batches(add_key, batch_format="pyarrow")
        parts = partitions_for(ctx.rows or ds.count(), minimum=ctx.num_workers)
        return map_groups_local(keyed, [KEY], lambda t: _mark(t, self.tag_only), parts)
