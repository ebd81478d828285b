"""Attach image bytes to interleaved documents from the image responses of the same crawl.

A distributed join on the normalised image URL (the `url_dedup` normalisation: scheme, `www.`, default port,
fragment, trailing slash and `utm_*` parameters ignored), in three resumable sub-phases over parquet files:
1. `join`: every document image reference and every image response is keyed by its URL hash and partitioned on
   it; per partition the references take the bytes of the first response (input order) with their URL, and
   the image header gives width and height, or a reason why not.
2. `attached`: the result is range-partitioned on the documents' `_order`, one file per input file.
3. the documents are marked where they lie: found images get their bytes, the others move to `dropped_images`
   (`attach_images:not_in_crawl`, `attach_images:not_an_image_response`, `attach_images:image:<why>`), the image responses are dropped
   (`image_response`: their bytes now live in the documents).
"""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray.data
import xxhash

from curation.dedup.url import normalize_url
from curation.interleave.document import IMAGES, split_images
from curation.interleave.extract import RESOURCE
from curation.ops.base import POSITIVE, Stage, register
from curation.ops.image_codec import open_image
from curation.rows import DROP, ORDER, set_column, split_marks
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext
from curation.stagekit.grouping import partitions_for
from curation.stagekit.input import dataset_files, order_bounds, require_columns
from curation.stagekit.lookup import starts

NOT_FOUND = "not_in_crawl"
NOT_AN_IMAGE = "not_an_image_response"  # the crawl holds a page, not an image, at that URL
REFS = pa.schema([("key", pa.uint64()), (ORDER, pa.int64()), ("idx", pa.int32()), ("bytes", pa.binary())])
ATTACHED = pa.schema(
    [
        (ORDER, pa.int64()),
        ("idx", pa.int32()),
        ("bytes", pa.binary()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("status", pa.string()),
    ]
)
PARTITION_BYTES = 256 << 20  # input bytes per join partition: image bytes per task stay bounded


def url_key(url: str | None) -> int:
    """xxh3 of the normalised URL (0: no usable URL)."""
    norm = normalize_url(url) if url else None
    return xxhash.xxh3_64_intdigest(norm.encode()) | 1 if norm else 0


def _refs(batch: pa.Table) -> pa.Table:
    """Key rows: one per image response (idx -1, with its bytes), one per page (idx -2: its URL is no image) and
    one per document image (idx >= 0)."""
    keys, orders, idxs, data = [], [], [], []
    rows = zip(
        batch.column(ORDER).to_pylist(),
        batch.column("url").to_pylist(),
        batch.column("texts").to_pylist(),
        batch.column("images").to_pylist(),
        batch.column(RESOURCE).to_pylist(),
        strict=True,
    )
    for order, url, texts, images, payload in rows:
        if texts is None:  # an image response
            if payload and (key := url_key(url)):
                keys.append(key), orders.append(order), idxs.append(-1), data.append(payload)
            continue
        if key := url_key(url):
            keys.append(key), orders.append(order), idxs.append(-2), data.append(None)
        for i, img in enumerate(images or []):
            keys.append(url_key(img["url"])), orders.append(order), idxs.append(i), data.append(None)
    return pa.table(
        {"key": pa.array(keys, pa.uint64()), ORDER: orders, "idx": pa.array(idxs, pa.int32()), "bytes": data},
        schema=REFS,
    )


def _probe(data: bytes | None, page: bool, max_pixels: int) -> tuple[int | None, int | None, str | None]:
    if data is None:
        return None, None, NOT_AN_IMAGE if page else NOT_FOUND
    try:
        _, width, height = open_image(data, max_pixels)
    except ValueError as exc:
        return None, None, f"image:{exc}"
    return width, height, None


def _join(part: pa.Table, _index: int, max_pixels: int) -> pa.Table:
    df = pl.from_arrow(part)
    found = (
        df.filter(pl.col("idx") == -1)
        .sort(ORDER)
        .unique("key", keep="first", maintain_order=True)
        .select("key", "bytes")
    )
    pages = df.filter(pl.col("idx") == -2).select("key", page=pl.lit(True)).unique("key")
    refs = df.filter(pl.col("idx") >= 0).select("key", ORDER, "idx")
    joined = refs.join(found, on="key", how="left").join(pages, on="key", how="left").to_arrow()
    probed = [
        _probe(d, bool(p), max_pixels)
        for d, p in zip(joined.column("bytes").to_pylist(), joined.column("page").to_pylist(), strict=True)
    ]
    ok = pa.array([status is None for _, _, status in probed])
    return pa.table(
        {
            ORDER: joined.column(ORDER),
            "idx": joined.column("idx"),
            "bytes": pc.if_else(ok, joined.column("bytes"), pa.nulls(len(probed), pa.binary())),
            "width": pa.array([w for w, _, _ in probed], pa.int32()),
            "height": pa.array([h for _, h, _ in probed], pa.int32()),
            "status": pa.array([s for _, _, s in probed], pa.string()),
        },
        schema=ATTACHED,
    )


def _sort(part: pa.Table, _index: int) -> pa.Table:
    return pl.from_arrow(part).sort([ORDER, "idx"]).to_arrow().cast(ATTACHED)


def _attached_for(orders: np.ndarray, files: list[tuple[str, int, int]]) -> pa.Table:
    lo, hi = int(orders.min()), int(orders.max())
    tables = [pq.read_table(p) for p, a, b in files if a <= hi and b >= lo]
    if not tables:
        return ATTACHED.empty_table()
    table = pa.concat_tables(tables)
    return table.filter(pc.is_in(table.column(ORDER), pa.array(orders)))


def _mark(batch: pa.Table, files: list[tuple[str, int, int]], step: str) -> pa.Table:
    orders = batch.column(ORDER).to_numpy()
    found: dict[tuple[int, int], dict] = {}
    if len(orders):
        for row in _attached_for(orders, files).to_pylist():
            found[(row[ORDER], row["idx"])] = row
    texts = batch.column("texts").to_pylist()
    out, keep, reasons, drops = [], [], [], []
    for order, doc_texts, images in zip(
        orders.tolist(), texts, batch.column("images").to_pylist(), strict=True
    ):
        if doc_texts is None:
            drops.append("image_response")
            out.append([]), keep.append([]), reasons.append([])
            continue
        drops.append(None)
        row_images, flags, why = [], [], []
        for i, img in enumerate(images or []):
            hit = found.get((order, i), {"status": NOT_FOUND})
            if hit["status"] is None:
                img = img | {"bytes": hit["bytes"], "width": hit["width"], "height": hit["height"]}
            row_images.append(img)
            flags.append(hit["status"] is None)
            why.append(hit["status"])
        out.append(row_images), keep.append(flags), reasons.append(why)
    previous = batch.column(DROP) if DROP in batch.column_names else pa.nulls(batch.num_rows, pa.string())
    batch = set_column(batch, "images", pa.array(out, IMAGES))
    batch = split_images(batch, keep, reasons, step)
    batch = set_column(batch, DROP, pc.coalesce(previous, pa.array(drops, pa.string())))
    return batch.drop_columns([c for c in (RESOURCE, "content_type") if c in batch.column_names])


@register("attach_images")
@dataclasses.dataclass
class AttachImages(Stage):
    """Give each document image the bytes of the crawl's response for its URL (joined on the normalised URL).

    Run after `html_interleave` on the same crawl. Found images get `bytes`, `width` and `height` (image header,
    EXIF-rotated); missing ones move to `dropped_images` with reason `attach_images:not_in_crawl`,
    `attach_images:not_an_image_response` (the crawl has a page at that URL) or `attach_images:image:<why>`
    (not a readable image, SVG, bomb, ...); image responses are dropped as `image_response`.
    """

    ranges = {"max_pixels": POSITIVE}

    requires = ("url", "texts", "images", RESOURCE)
    provides = ("images", "dropped_images")

    max_pixels: int = 89_478_485

    def kept_schema(self, schema: pa.Schema) -> pa.Schema | None:
        """What `_mark` makes of rows of `schema`, from a zero-row batch of them."""
        if any(schema.get_field_index(c) < 0 for c in (ORDER, "texts", "images")):
            return None
        return split_marks(_mark(schema.empty_table(), [], self.op_name), self.op_name).kept.schema

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        files = dataset_files(ds, ctx)
        require_columns(files, [ORDER, "url", "texts", "images", RESOURCE], self.op_name)
        size = sum(os.path.getsize(f) for f in files)
        parts = partitions_for(size, PARTITION_BYTES, ctx.num_workers)
        joined = shuffle.shuffle(
            ctx.work_dir, "join", files, "key", parts,
            functools.partial(_join, max_pixels=self.max_pixels), REFS, _refs,
        )  # fmt: skip
        bounds = order_bounds(files)
        ranged = shuffle.shuffle(
            ctx.work_dir, "attached", joined["files"], ORDER, len(bounds), _sort, ATTACHED,
            partitioner=shuffle.range_partition(starts(bounds)),
        )  # fmt: skip
        located = [
            (path, lo, hi)
            for path, (lo, hi) in zip(ranged["files"], order_bounds(ranged["files"]), strict=True)
        ]
        return ds.map_batches(
            _mark, fn_kwargs={"files": located, "step": self.op_name}, batch_format="pyarrow"
        )
