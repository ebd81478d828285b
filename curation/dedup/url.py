"""URL dedup: the first row (in input order) of each normalised URL is kept."""

from __future__ import annotations

import dataclasses
import functools
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np
import pyarrow as pa
import ray.data
import xxhash

from curation.dedup.keys import KEY_SCHEMA, ROWS_PER_PARTITION, first_of_key
from curation.dedup.marking import duplicate_tags, mark_duplicates, sorted_labels
from curation.ops.base import Stage, register
from curation.rows import ORDER
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext
from curation.stagekit.grouping import partitions_for
from curation.stagekit.input import dataset_files, order_bounds, require_columns

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


def _keys(batch: pa.Table, column: str) -> pa.Table:
    keys = url_keys(batch.column(column).to_pylist())
    keep = keys != 0
    return pa.table({"key": pa.array(keys[keep], pa.uint64()), ORDER: batch.column(ORDER).to_numpy()[keep]})


@register("url_dedup")
@dataclasses.dataclass
class UrlDedup(Stage):
    """Drop rows whose normalised URL was seen before in input order (rule `duplicate_url`).

    Normalisation: scheme ignored, host lower-cased without `www.` and default port, fragment and trailing
    slash removed, query parameters sorted and `utm_*` ones removed. Rows without a URL (null, empty, no host)
    pass through. `column` names the URL column (default `url`); `tag_only: true` keeps every row and writes a
    boolean `url_duplicate` instead.
    """

    requires = ("{column}",)
    tag_fields = duplicate_tags("url_duplicate", cluster="")

    column: str = "url"

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        files = dataset_files(ds, ctx)
        require_columns(files, [ORDER, self.column], self.op_name)
        parts = partitions_for(ctx.rows or ds.count(), ROWS_PER_PARTITION, ctx.num_workers)
        later = shuffle.shuffle(
            ctx.work_dir, "duplicates", files, "key", parts, first_of_key, KEY_SCHEMA,
            functools.partial(_keys, column=self.column),
        )  # fmt: skip
        forest = {**later, "rounds": 0}  # each key group is already a star: no components rounds needed
        labels = sorted_labels(ctx.work_dir, forest, order_bounds(files))
        return mark_duplicates(ds, labels, "duplicate_url", self.active_tags())
