"""Duplicate images of interleaved documents: within a document, and images that recur too often in the corpus.

What MMC4 and OBELICS did (facts; thresholds are the defaults below):
- MMC4 (Zhu et al. 2023, arXiv 2304.06939, section 2 "De-duplication + small resolution"): duplicate images
  found with opennota's `findimagedupes` (pHash) at threshold 5 (the library's default is 0; 5 removed about 10M
  more images); only one copy of an image kept within a document; images with more than 10 duplicates (counted
  in a sample of 60K images) removed. It ran right after the download, before the size rules, NSFW and assignment.
- OBELICS (Laurençon et al. 2023; huggingface/OBELICS `build_obelics/06_01`-`06_03`): every image URL of the
  filtered documents counted over the corpus (each occurrence), images whose URL occurs more than 10 times
  (`THRESHOLD_TOO_DUPLICATED = 10`) removed from every document (logos, icons, banners); this ran after the
  document filters and before NSFW. Its final pass (`13_final_processing.py`) keeps only the first occurrence of
  an image URL within a document.

Here an image occurrence is a node; two occurrences are linked when their 64-bit pHashes are within `radius`
bits (the `phash_dedup` pigeonhole candidates, Hamming-checked) and/or when their normalised URLs are equal
(the `url_dedup` normalisation); clusters are the distributed connected components of those links. Sub-phases,
each resumable under the stage's work folder:
1. `images`: one row per image (document `_order`, position, pHash, URL key), range-partitioned back onto the
   input files; node id = (input file index << 40) + rank in the file.
2. `phash_edges` / `url_edges`, then `components`: the `phash_dedup` machinery (pigeonhole chunks, Hamming check,
   distributed connected components), with equal hashes and equal URLs linked as stars (edges linear in the
   occurrences of a frequent image).
3. `clusters`: the size of every cluster with more than one occurrence, per member.
4. `labels`: per input file, the rule of every removed image (`frequent`: its cluster has more than
   `max_occurrences` occurrences; `in_document`: a later occurrence of a cluster within one document), with counts.
5. the documents are rewritten where they lie: removed images move to `dropped_images`
   (`interleaved_image_dedup:<rule>`), the similarity matrix loses their rows, texts stay.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray.data

from curation.dedup.candidates import BUCKET_SCHEMA, hamming_edges, star_edges
from curation.dedup.components import EDGE_SCHEMA, connected_components
from curation.dedup.phash import HASH_BUCKET_SCHEMA, chunk_keys, image_phash
from curation.interleave.attach import url_key
from curation.interleave.document import split_images
from curation.io.shards import atomic_write_json
from curation.ops.base import AT_LEAST_0, POSITIVE, Stage, register
from curation.rows import ORDER, set_column, split_marks
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext
from curation.stagekit.grouping import partitions_for
from curation.stagekit.input import dataset_files, order_bounds, require_columns
from curation.stagekit.lookup import starts

log = logging.getLogger("curation")
FILE_SHIFT = 40  # node = (input file index << FILE_SHIFT) + rank of the image within its input file
ROWS_PER_PARTITION = 250_000
FREQUENT = "frequent"
IN_DOCUMENT = "in_document"
KEYS = ("phash", "url")
IMAGE_ROWS = pa.schema(
    [
        (ORDER, pa.int64()),
        ("idx", pa.int32()),
        ("hash", pa.uint64()),
        ("has_hash", pa.bool_()),
        ("url_key", pa.uint64()),
    ]
)
MEMBERS = pa.schema([("node", pa.int64()), ("root", pa.int64()), ("size", pa.int64())])
REMOVED = pa.schema([(ORDER, pa.int64()), ("idx", pa.int32()), ("rule", pa.string())])
TAG = pa.field("image_duplicates", pa.list_(pa.string()))  # `tag_only`: the rule (or null) of each image


def _image_rows(batch: pa.Table, use_phash: bool) -> tuple[pa.Table, dict[str, int]]:
    """One row per image of each document (image responses, `texts` null, have none); pHash status counts."""
    orders, idxs, hashes, has, keys = [], [], [], [], []
    stats = {"images": 0, "hashed": 0, "no_bytes": 0, "undecodable": 0}
    for order, texts, images in zip(
        batch.column(ORDER).to_pylist(),
        batch.column("texts").to_pylist(),
        batch.column("images").to_pylist(),
        strict=True,
    ):
        if texts is None:
            continue
        for i, img in enumerate(images or []):
            value, ok = 0, False
            if use_phash and img.get("bytes"):
                try:
                    value, ok = image_phash(img["bytes"]), True
                except ValueError:  # counted; the image can still match by URL
                    stats["undecodable"] += 1
            elif use_phash:
                stats["no_bytes"] += 1
            stats["images"] += 1
            stats["hashed"] += ok
            orders.append(order), idxs.append(i), hashes.append(value), has.append(ok)
            keys.append(url_key(img.get("url")))
    table = pa.table(
        {
            ORDER: pa.array(orders, pa.int64()),
            "idx": pa.array(idxs, pa.int32()),
            "hash": pa.array(hashes, pa.uint64()),
            "has_hash": pa.array(has, pa.bool_()),
            "url_key": pa.array(keys, pa.uint64()),
        },
        schema=IMAGE_ROWS,
    )
    return table, stats


def _number(part: pa.Table, index: int) -> pa.Table:
    """The images of input file `index`, in input order, with their node ids."""
    table = pl.from_arrow(part).sort([ORDER, "idx"]).to_arrow().cast(IMAGE_ROWS)
    nodes = (np.int64(index) << np.int64(FILE_SHIFT)) + np.arange(table.num_rows, dtype=np.int64)
    return table.append_column("node", pa.array(nodes, pa.int64()))


def _phash_buckets(batch: pa.Table, radius: int) -> pa.Table:
    batch = batch.filter(batch.column("has_hash"))
    hashes = batch.column("hash").to_numpy()
    keys = chunk_keys(hashes, radius, None)
    k = radius + 1
    return pa.table(
        {
            "key": pa.array(keys.reshape(-1), pa.uint64()),
            "node": pa.array(np.repeat(batch.column("node").to_numpy(), k), pa.int64()),
            "hash": pa.array(np.repeat(hashes, k), pa.uint64()),
        }
    )


def _near_edges(part: pa.Table, index: int, radius: int) -> pa.Table:
    """`hamming_edges` over one occurrence per distinct hash of each bucket, plus a star from every other
    occurrence of a hash to that one: edges grow with the occurrences, not with their square (a logo on a
    million pages is a million edges, not half a million squared)."""
    df = pl.from_arrow(part).select("key", "node", "hash").unique()
    reps = df.group_by("key", "hash").agg(rep=pl.col("node").min())
    same = df.join(reps, on=["key", "hash"]).filter(pl.col("node") != pl.col("rep"))
    near = hamming_edges(reps.select("key", node="rep", hash="hash").to_arrow(), index, radius)
    stars = same.select(src="node", dst="rep").to_arrow().cast(EDGE_SCHEMA)
    return pl.from_arrow(pa.concat_tables([near, stars])).unique().to_arrow().cast(EDGE_SCHEMA)


def _url_buckets(batch: pa.Table) -> pa.Table:
    batch = batch.filter(pc.not_equal(batch.column("url_key"), pa.scalar(0, pa.uint64())))
    return pa.table({"key": batch.column("url_key"), "node": batch.column("node")})


def _cluster_sizes(part: pa.Table, _index: int) -> pa.Table:
    """(node, root, size) for every member of every cluster of the star forest (`src` = node, `dst` = root; an
    edge can come out of the components in more than one file, and all of a root's edges are in this partition)."""
    df = pl.from_arrow(part).unique()
    sizes = df.group_by("dst").agg(size=pl.len() + 1)
    members = pl.concat([df.select(node="src", root="dst"), sizes.select(node="dst", root="dst")])
    return members.join(sizes, left_on="root", right_on="dst").select("node", "root", "size").to_arrow()


def removals(labelled: pl.DataFrame, max_occurrences: int | None, within_document: bool) -> pl.DataFrame:
    """(`_order`, idx, rule) of the removed images among `labelled` (`_order`, idx, root, size) rows."""
    ranked = labelled.sort([ORDER, "idx"]).with_columns(
        rank=pl.col("idx").rank("ordinal").over([ORDER, "root"]),
        frequent=pl.lit(False) if max_occurrences is None else pl.col("size") > max_occurrences,
    )
    rule = (
        pl.when(pl.col("frequent"))
        .then(pl.lit(FREQUENT))
        .when(pl.lit(within_document) & (pl.col("rank") > 1))
        .then(pl.lit(IN_DOCUMENT))
    )
    return ranked.select(ORDER, "idx", rule=rule).filter(pl.col("rule").is_not_null())


def _label(
    part: pa.Table, index: int, images: list[str], max_occurrences: int | None, within_document: bool
) -> tuple[pa.Table, dict[str, int]]:
    """The removed images of input file `index` with their rule; counts per rule and of emptied documents."""
    if part.num_rows == 0 or not Path(images[index]).exists():
        return REMOVED.empty_table(), {}
    nodes = pl.from_arrow(pq.read_table(images[index], columns=[ORDER, "idx", "node"]))
    labelled = nodes.join(pl.from_arrow(part), on="node", how="inner")
    removed = removals(labelled, max_occurrences, within_document)
    stats = {rule: int(n) for rule, n in removed.group_by("rule").len().iter_rows()}
    per_doc = nodes.group_by(ORDER).len().join(removed.group_by(ORDER).len(), on=ORDER, suffix="_removed")
    stats["documents_emptied"] = per_doc.filter(pl.col("len") == pl.col("len_removed")).height
    return removed.sort([ORDER, "idx"]).to_arrow().cast(REMOVED), stats


def _removed_for(orders: np.ndarray, files: list[tuple[str, int, int]]) -> dict[tuple[int, int], str]:
    lo, hi = int(orders.min()), int(orders.max())
    tables = [pq.read_table(p) for p, a, b in files if a <= hi and b >= lo]
    if not tables:
        return {}
    table = pa.concat_tables(tables)
    table = table.filter(pc.is_in(table.column(ORDER), pa.array(orders)))
    return {(r[ORDER], r["idx"]): r["rule"] for r in table.to_pylist()}


def _apply(batch: pa.Table, files: list[tuple[str, int, int]], step: str, tag_only: bool) -> pa.Table:
    """Move the removed images of each document into `dropped_images` (`tag_only`: list their rules instead)."""
    orders = batch.column(ORDER).to_numpy()
    removed = _removed_for(orders, files) if len(orders) and files else {}
    keep, reasons = [], []
    for order, images in zip(orders.tolist(), batch.column("images").to_pylist(), strict=True):
        why = [removed.get((order, i)) for i in range(len(images or []))]
        keep.append([r is None for r in why])
        reasons.append(why)
    if tag_only:
        return set_column(batch, TAG.name, pa.array(reasons, TAG.type))
    return split_images(batch, keep, reasons, step)


@register("interleaved_image_dedup")
@dataclasses.dataclass
class InterleavedImageDedup(Stage):
    """Remove duplicate images from interleaved documents (MMC4's pHash dedup, OBELICS's frequent-URL removal).

    Occurrences are linked by pHash within `radius` bits (MMC4: `findimagedupes` at threshold 5) and/or by equal
    normalised URL, as `by` lists (`[phash, url]`; OBELICS: `[url]`); images without bytes are linked by URL only.
    Rules, moved into `dropped_images` as `interleaved_image_dedup:<rule>`: `frequent` (the cluster occurs more
    than `max_occurrences` times in the corpus, MMC4 and OBELICS: 10; null: off) and `in_document` (a later
    occurrence of a cluster within one document: the first is kept; `within_document: false`: off). Texts stay
    and a similarity matrix loses the removed rows; a document left with too few images is dropped by the
    `interleaved_doc_filter` that follows (`summary.json` counts them as `documents_emptied`).
    `tag_only: true` writes `image_duplicates` (the rule or null per image) and removes nothing.
    """

    requires = ("texts", "images")
    provides = ("images", "dropped_images")
    tag_fields = (TAG,)

    ranges = {"radius": AT_LEAST_0, "max_occurrences": POSITIVE}

    by: list[str] = dataclasses.field(default_factory=lambda: list(KEYS))
    radius: int = 5
    max_occurrences: int | None = 10
    within_document: bool = True

    def validate(self) -> None:
        if not self.by or any(k not in KEYS for k in self.by):
            raise ValueError(f"by must list one or more of {list(KEYS)}")
        if not 0 <= self.radius < 32:
            raise ValueError("radius must be in [0, 32)")
        if self.max_occurrences is not None and self.max_occurrences < 1:
            raise ValueError("max_occurrences must be >= 1 (or null)")

    def kept_schema(self, schema: pa.Schema) -> pa.Schema | None:
        """What `_apply` makes of rows of `schema`, from a zero-row batch of them."""
        if any(schema.get_field_index(c) < 0 for c in (ORDER, "images")):
            return None
        empty = _apply(schema.empty_table(), [], self.op_name, self.tag_only)
        return split_marks(empty, self.op_name).kept.schema

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        work = ctx.work_dir
        files = dataset_files(ds, ctx)
        require_columns(files, [ORDER, "texts", "images"], self.op_name)
        bounds = order_bounds(files)
        images = shuffle.shuffle(
            work, "images", files, ORDER, len(files), _number, IMAGE_ROWS,
            functools.partial(_image_rows, use_phash="phash" in self.by),
            partitioner=shuffle.range_partition(starts(bounds)),
        )  # fmt: skip
        # partition i of a shuffle writes data/p{i:05d}.parquet (none when empty): input file i's images
        image_files = [str(work / "images" / "data" / f"p{i:05d}.parquet") for i in range(len(files))]
        edges = {"files": [], "rows": 0}
        for key, map_fn, reduce_fn, schema, fanout in (
            ("phash", functools.partial(_phash_buckets, radius=self.radius),
             functools.partial(_near_edges, radius=self.radius), HASH_BUCKET_SCHEMA, self.radius + 1),
            ("url", _url_buckets, star_edges, BUCKET_SCHEMA, 1),
        ):  # fmt: skip
            if key in self.by:
                parts = partitions_for(images["rows"] * fanout, ROWS_PER_PARTITION, ctx.num_workers)
                found = shuffle.shuffle(
                    work, f"{key}_edges", images["files"], "key", parts, reduce_fn, schema, map_fn
                )
                edges = {"files": edges["files"] + found["files"], "rows": edges["rows"] + found["rows"]}
        forest = connected_components(edges, work / "components", ctx.num_workers, ROWS_PER_PARTITION)
        parts = partitions_for(forest["rows"], ROWS_PER_PARTITION, ctx.num_workers)
        clusters = shuffle.shuffle(
            work, "clusters", forest["files"], "dst", parts, _cluster_sizes, EDGE_SCHEMA
        )
        label = functools.partial(
            _label,
            images=image_files,
            max_occurrences=self.max_occurrences,
            within_document=self.within_document,
        )
        file_starts = [i << FILE_SHIFT for i in range(len(files))]
        labels = shuffle.shuffle(
            work, "labels", clusters["files"], "node", len(files), label, MEMBERS,
            partitioner=shuffle.range_partition(file_starts),
        )  # fmt: skip
        summary = {
            "images": images["map_stats"],
            "edges": edges["rows"],
            "clustered_images": clusters["rows"],
            "component_rounds": forest.get("rounds", 0),
            "removed": {k: v for k, v in labels["stats"].items() if k != "documents_emptied"},
            "documents_emptied": labels["stats"].get("documents_emptied", 0),
        }
        atomic_write_json(work / "summary.json", summary)
        log.info("interleaved_image_dedup: %s", summary)
        located = [
            (path, lo, hi)
            for path, (lo, hi) in zip(labels["files"], order_bounds(labels["files"]), strict=True)
        ]
        return ds.map_batches(
            _apply,
            fn_kwargs={"files": located, "step": self.op_name, "tag_only": self.tag_only},
            batch_format="pyarrow",
        )
