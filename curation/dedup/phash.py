"""Perceptual-hash near-duplicate removal for images: pigeonhole chunks, Hamming check, distributed components."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray.data

from curation.dedup.candidates import hamming_edges
from curation.dedup.components import connected_components
from curation.dedup.marking import duplicate_tags, mark_duplicates, sorted_labels
from curation.dedup.text_input import group_salts
from curation.io.shards import atomic_write_json
from curation.ops.base import AT_LEAST_0, ERROR, Stage, register, set_column
from curation.ops.image import DRAFT_SIDE, MAX_PIXELS
from curation.ops.image_codec import hash_image, open_image
from curation.rows import ORDER
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext
from curation.stagekit.grouping import partitions_for
from curation.stagekit.hashing import mix64
from curation.stagekit.input import dataset_files, order_bounds
from curation.stagekit.lookup import lookup

log = logging.getLogger("curation")
ROWS_PER_PARTITION = 250_000
NOT_ERRORS = ("ok", "no_hash")  # every other hashing status is a row error (`bad_phash`, `image:<reason>`)
HASH_BUCKET_SCHEMA = pa.schema([("key", pa.uint64()), ("node", pa.int64()), ("hash", pa.uint64())])


def image_phash(data: bytes) -> int:
    """64-bit pHash of encoded image bytes, decoded with the guards of `image_decode` (the same hash it writes)."""
    img, _, _ = open_image(data, MAX_PIXELS)
    return hash_image(img, DRAFT_SIDE)


def _from_column(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """(hashes, valid) from an integer, hex-string or 8-byte binary column; None for any other type."""
    t = arr.type
    if pa.types.is_integer(t) and t.bit_width == 64:
        valid = pc.is_valid(arr).to_numpy(zero_copy_only=False)
        values = arr.fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
        return values, valid
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    ):
        values, valid = np.zeros(len(arr), np.uint64), np.zeros(len(arr), bool)
        for i, v in enumerate(arr.to_pylist()):
            try:
                if isinstance(v, str) and len(v) == 16:
                    values[i], valid[i] = int(v, 16), True
                elif isinstance(v, bytes) and len(v) == 8:
                    values[i], valid[i] = int.from_bytes(v, "big"), True
            except ValueError:
                continue
        return values, valid
    return None


def hash_batch(
    batch: pa.Table, column: str, image_column: str
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """(hashes, has_hash, error per row): the hash column where usable, else pHash of the image bytes."""
    n = batch.num_rows
    hashes, valid = np.zeros(n, np.uint64), np.zeros(n, bool)
    given = np.zeros(n, bool)  # a non-null value in a hash column of a usable type
    parsed = _from_column(batch.column(column).combine_chunks()) if column in batch.column_names else None
    if parsed is not None:
        hashes, valid = parsed[0].copy(), parsed[1].copy()
        given = batch.column(column).is_valid().to_numpy(zero_copy_only=False)
    errors: list[str | None] = [None] * n
    images = batch.column(image_column).to_pylist() if image_column in batch.column_names else [None] * n
    for i in np.flatnonzero(~valid):
        if given[i]:
            errors[i] = "bad_phash"
        elif images[i] is not None:
            try:
                hashes[i], valid[i] = image_phash(images[i]), True
            except ValueError as exc:  # an undecodable image is a counted error, never a crash
                errors[i] = f"image:{exc}"
    return hashes, valid, errors


def chunk_keys(hashes: np.ndarray, radius: int, salt: np.ndarray | None) -> np.ndarray:
    """(rows, radius+1) keys: chunk c of the 64 bits (near-equal widths) with its index (and the group salt)."""
    chunks = radius + 1
    bounds = np.linspace(0, 64, chunks + 1).astype(np.uint64)
    keys = np.empty((len(hashes), chunks), dtype=np.uint64)
    for c in range(chunks):
        width = bounds[c + 1] - bounds[c]
        value = (hashes >> bounds[c]) & np.uint64((1 << int(width)) - 1)
        keys[:, c] = mix64(value ^ (np.uint64(c + 1) << np.uint64(56)))
    return mix64(keys ^ salt[:, None]) if salt is not None else keys


def _hash_rows(
    batch: pa.Table, column: str, image_column: str, group_by: str | None
) -> tuple[pa.Table, dict[str, int]]:
    """Per row: `_order`, `hash`, group `salt` and `status` (ok, no_hash, or the error); plus status counts."""
    hashes, valid, errors = hash_batch(batch, column, image_column)
    status = [("ok" if v else (e or "no_hash")) for v, e in zip(valid.tolist(), errors, strict=True)]
    salt = group_salts(batch.column(group_by)) if group_by else np.zeros(batch.num_rows, np.uint64)
    table = pa.table(
        {
            ORDER: batch.column(ORDER),
            "hash": pa.array(hashes, pa.uint64()),
            "salt": pa.array(salt, pa.uint64()),
            "status": pa.array(status, pa.string()),
        }
    )
    values, counts = np.unique(np.array(status, dtype=object), return_counts=True)
    return table, {str(v): int(c) for v, c in zip(values, counts, strict=True)}


def _bucket_rows(batch: pa.Table, radius: int) -> pa.Table:
    batch = batch.filter(pc.equal(batch.column("status"), "ok"))
    hashes = batch.column("hash").to_numpy()
    keys = chunk_keys(hashes, radius, batch.column("salt").to_numpy())
    k = radius + 1
    return pa.table(
        {
            "key": pa.array(keys.reshape(-1), pa.uint64()),
            "node": pa.array(np.repeat(batch.column(ORDER).to_numpy(), k), pa.int64()),
            "hash": pa.array(np.repeat(hashes, k), pa.uint64()),
        }
    )


def _attach_errors(batch: pa.Table, hashes: list[str], bounds: list[tuple[int, int]]) -> pa.Table:
    """`_error` from the hashing sub-phase (read back by `_order` range, not recomputed)."""
    orders = batch.column(ORDER).combine_chunks()
    status = lookup(orders, hashes, bounds, "status")
    errors = pc.if_else(pc.is_in(status, pa.array(NOT_ERRORS)), pa.scalar(None, pa.string()), status)
    return set_column(batch, ERROR, errors)


@register("phash_dedup")
@dataclasses.dataclass
class PhashDedup(Stage):
    """Drop near-duplicate images: 64-bit pHashes within Hamming distance `radius` (default 8) are one cluster.

    The hash comes from `column` (default `phash`: uint64/int64, 16-digit hex string or 8 bytes); where that
    column is missing or of another type, it is computed with `imagehash.phash` from the encoded image bytes in
    `image_column` (default `image`). Candidates: the hash split into `radius + 1` chunks (pigeonhole: two hashes
    within the radius agree on at least one chunk), grouped on each chunk, then checked by true Hamming distance.
    Clusters are connected components (distributed); the first row in input order is kept, the others get rule
    `near_duplicate_image`. `group_by: <column>` keeps clusters inside each value of that column. `tag_only: true`
    writes `dup_cluster` and `is_duplicate` instead. Errors: `undecodable_image`, `bad_phash` (a hash value that
    does not parse); rows without hash or image pass through (counted in `summary.json`).
    """

    requires = ("{group_by}",)
    tag_fields = duplicate_tags()

    ranges = {"radius": AT_LEAST_0}

    column: str = "phash"
    image_column: str = "image"
    radius: int = 8
    group_by: str | None = None

    def missing_columns(self, available: Collection[str]) -> list[str]:
        """The hash column, or failing it the image column, and `group_by` when set."""
        hashable = self.column in available or self.image_column in available
        return super().missing_columns(available) + (
            [] if hashable else [f"{self.column} (or {self.image_column})"]
        )

    def validate(self) -> None:
        if not 0 <= self.radius < 32:
            raise ValueError("radius must be in [0, 32)")

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        work = ctx.work_dir
        files = dataset_files(ds, ctx)
        args = {"column": self.column, "image_column": self.image_column}
        hashed = shuffle.map_files(
            work, "hashes", files, functools.partial(_hash_rows, **args, group_by=self.group_by)
        )
        ok = hashed["stats"].get("ok", 0)
        parts = partitions_for(ok * (self.radius + 1), ROWS_PER_PARTITION, ctx.num_workers)
        edges = shuffle.shuffle(
            work,
            "candidates",
            hashed["files"] if ok else [],
            "key",
            parts,
            functools.partial(hamming_edges, radius=self.radius),
            HASH_BUCKET_SCHEMA,
            functools.partial(_bucket_rows, radius=self.radius),
        )
        forest = connected_components(edges, work / "components", ctx.num_workers, ROWS_PER_PARTITION)
        summary = {
            "images": hashed["stats"],
            "candidate_edges": edges["rows"],
            "duplicates": forest["rows"],
            "component_rounds": forest["rounds"],
        }
        atomic_write_json(work / "summary.json", summary)
        log.info("phash_dedup: %s", summary)
        if any(k not in NOT_ERRORS for k in hashed["stats"]):
            ds = ds.map_batches(
                _attach_errors,
                fn_kwargs={"hashes": hashed["files"], "bounds": order_bounds(hashed["files"])},
                batch_format="pyarrow",
            )
        labels = sorted_labels(work, forest, order_bounds(files))
        return mark_duplicates(ds, labels, "near_duplicate_image", self.active_tags())
