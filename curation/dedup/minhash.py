"""MinHash near-duplicate removal across the whole dataset, with distributed connected components."""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray.data

from curation.dedup.candidates import BUCKET_SCHEMA, bucket_rows, star_edges
from curation.dedup.components import EDGE_SCHEMA, connected_components
from curation.dedup.lsh_curve import midpoint
from curation.dedup.marking import duplicate_tags, mark_duplicates, sorted_labels
from curation.dedup.shingles import shingle_hashes
from curation.dedup.signatures import band_keys, estimated_jaccard, minhash, permutations
from curation.dedup.text_input import fixed_list, group_salts, text_column
from curation.io.shards import atomic_write_json
from curation.ops.base import AT_LEAST_0, ERROR, FRACTION, POSITIVE, Stage, register
from curation.rows import ORDER, add_marks
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext
from curation.stagekit.grouping import partitions_for
from curation.stagekit.input import dataset_files, order_bounds, require_columns
from curation.stagekit.lookup import lookup, starts

log = logging.getLogger("curation")


@dataclasses.dataclass(frozen=True)
class Preset:
    """Shingling and LSH settings. `threshold` is the Jaccard similarity where the preset cuts: the verification
    threshold when `verify`, else the midpoint of the bands x rows S-curve (where LSH alone cuts)."""

    ngram: int
    shingle: str
    bands: int
    rows: int
    threshold: float
    verify: bool


PRESETS = {
    "fineweb": Preset(ngram=5, shingle="word", bands=14, rows=8, threshold=0.75, verify=True),
    # RefinedWeb's 450 x 20 without verification cuts at 0.72, not at the 0.8 once stated here
    "refinedweb": Preset(ngram=5, shingle="word", bands=450, rows=20, threshold=0.72, verify=False),
    "char": Preset(ngram=5, shingle="char", bands=20, rows=10, threshold=0.75, verify=True),
}
MIDPOINT_TOLERANCE = 0.01  # how far a stated threshold without verification may lie from the S-curve midpoint
ROWS_PER_PARTITION = 250_000
SHINGLED = ["ok", "short"]


@register("minhash_dedup")
@dataclasses.dataclass
class MinhashDedup(Stage):
    r"""Drop near-duplicate documents (MinHash LSH, distributed connected components); keep the first of each.

    Parameters (the defaults of the shingle/LSH ones come from `preset`):
    - `preset`: `fineweb` (default: word 5-grams, 14 bands x 8 rows, as published by FineWeb, plus candidate
      verification at 0.75; `verify: false` reproduces FineWeb, which then cuts at 0.68), `refinedweb` (word
      5-grams, 450 bands x 20 rows, no verification, as RefinedWeb: cuts at 0.72) or `char` (character
      5-grams, 20 x 10, verification at 0.75).
    - `column` (`text`); `ngram`, `shingle` (`word` or `char`), `bands`, `rows`: override the preset.
    - `verify`, `threshold`: keep a candidate pair only if its estimated Jaccard (share of equal signature
      values) is >= `threshold`; this removes band false positives. Without verification `threshold` only
      states where bands x rows cut, and must agree with it (within 0.01).

    Share of pairs removed by Jaccard similarity (S-curve 1 - (1 - J^rows)^bands, times the verification
    tail; benchmarks/RESULTS.md "MinHash presets" has the measured rates):

    | preset | 0.60 | 0.65 | 0.70 | 0.75 | 0.80 | 0.85 | 0.90 |
    |---|---|---|---|---|---|---|---|
    | fineweb (verified at 0.75) | 0.00 | 0.01 | 0.08 | 0.42 | 0.85 | 0.99 | 1.00 |
    | fineweb, verify: false | 0.21 | 0.36 | 0.56 | 0.77 | 0.92 | 0.99 | 1.00 |
    | refinedweb | 0.02 | 0.08 | 0.30 | 0.76 | 0.99 | 1.00 | 1.00 |
    | char (verified at 0.75) | 0.00 | 0.00 | 0.03 | 0.37 | 0.87 | 0.99 | 1.00 |
    - `group_by` (none): a column whose values clusters never cross (FineWeb dedups per crawl dump);
      `group_pattern` (none): a regex whose first match in that column is the group (e.g. `^\d{4}-\d{2}`).
    - `seed` (0): seed of the 64-bit permutations.
    - `tag_only` (false): keep every row and write `dup_cluster` (the `_order` of the cluster's kept row) and
      `is_duplicate`, to audit what would be removed.
    Text is normalised (NFKC, lower case, ASCII digits and punctuation removed). The kept row of a cluster is
    the one with the smallest `_order` (first in input order); the others get rule `near_duplicate`. Documents
    without tokens pass through (counted in the stage's `summary.json`); one with fewer tokens than `ngram` is
    a single shingle; invalid UTF-8 in a binary text column is the error `non_utf8_text`.
    """

    requires = ("{column}", "{group_by}")
    tag_fields = duplicate_tags()

    ranges = {
        "ngram": POSITIVE,
        "bands": POSITIVE,
        "rows": POSITIVE,
        "threshold": FRACTION,
        "seed": AT_LEAST_0,
    }

    preset: str = "fineweb"
    column: str = "text"
    ngram: int | None = None
    shingle: str | None = None
    bands: int | None = None
    rows: int | None = None
    verify: bool | None = None
    threshold: float | None = None
    group_by: str | None = None
    group_pattern: str | None = None
    seed: int = 0

    def validate(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        s = self.settings()
        if s.shingle not in ("word", "char"):
            raise ValueError(f"shingle must be 'word' or 'char', got {s.shingle!r}")
        for name in ("ngram", "bands", "rows"):
            if getattr(s, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if not 0.0 < s.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        cut = midpoint(s.bands, s.rows)
        if not s.verify and abs(s.threshold - cut) > MIDPOINT_TOLERANCE:
            raise ValueError(
                f"threshold {s.threshold} without verification: {s.bands} bands x {s.rows} rows cut at {cut:.2f}; "
                "set verify: true to cut at the threshold, or state the threshold they cut at"
            )

    def settings(self) -> Preset:
        """The preset with every explicitly given parameter applied."""
        base = PRESETS[self.preset]
        given = {f: getattr(self, f) for f in ("ngram", "shingle", "bands", "rows", "threshold", "verify")}
        s = dataclasses.replace(base, **{k: v for k, v in given.items() if v is not None})
        if not s.verify and self.threshold is None:  # no verification: the preset cuts where its S-curve does
            s = dataclasses.replace(s, threshold=round(midpoint(s.bands, s.rows), 2))
        return s

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        s = self.settings()
        work = ctx.work_dir
        files = dataset_files(ds, ctx)
        columns = [ORDER, self.column] + ([self.group_by] if self.group_by else [])
        require_columns(files, columns, self.op_name)
        sig_fn = functools.partial(
            _signature_batch,
            column=self.column,
            group_by=self.group_by,
            group_pattern=self.group_pattern,
            settings=s,
            seed=self.seed,
        )
        sigs = shuffle.map_files(work, "signatures", files, sig_fn, columns=columns)
        bounds = order_bounds(sigs["files"])
        shingled = sum(n for k, n in sigs["stats"].items() if k in SHINGLED)
        parts = partitions_for(shingled * s.bands, ROWS_PER_PARTITION, ctx.num_workers)
        edges = shuffle.shuffle(
            work,
            "candidates",
            sigs["files"] if shingled else [],
            "key",
            parts,
            star_edges,
            BUCKET_SCHEMA,
            functools.partial(_band_rows, bands=s.bands),
        )
        if s.verify:
            edges = verify_edges(work, edges, sigs["files"], bounds, s.threshold)
        forest = connected_components(edges, work / "components", ctx.num_workers, ROWS_PER_PARTITION)
        summary = {
            "documents": sigs["stats"],
            "candidate_edges": edges["rows"],
            "duplicates": forest["rows"],
            "component_rounds": forest["rounds"],
        }
        atomic_write_json(work / "summary.json", summary)
        log.info("minhash_dedup: %s", summary)
        if sigs["stats"].get("non_utf8_text"):
            ds = ds.map_batches(_mark_bad_encoding, fn_kwargs={"column": self.column}, batch_format="pyarrow")
        labels = sorted_labels(work, forest, order_bounds(files))
        return mark_duplicates(ds, labels, "near_duplicate", self.active_tags())


def _band_rows(batch: pa.Table, bands: int) -> pa.Table:
    batch = batch.filter(pc.is_in(batch.column("status"), pa.array(SHINGLED)))
    return bucket_rows(fixed_list(batch.column("bands"), bands), batch.column(ORDER).to_numpy())


def _signature_batch(
    batch: pa.Table, column: str, group_by: str | None, group_pattern: str | None, settings: Preset, seed: int
) -> tuple[pa.Table, dict[str, int]]:
    """Per document: `_order`, `status` (ok, short, no_tokens, non_utf8_text), `bands` keys, `sig` if verifying."""
    texts, bad = text_column(batch.column(column))
    sh = shingle_hashes(texts, settings.ngram, settings.shingle)
    sig = minhash(sh.hashes, sh.doc, batch.num_rows, permutations(settings.bands * settings.rows, seed))
    salt = group_salts(batch.column(group_by), group_pattern) if group_by else None
    keys = band_keys(sig, settings.bands, settings.rows, salt)
    status = np.where(
        bad, "non_utf8_text", np.where(sh.count == 0, "no_tokens", np.where(sh.short, "short", "ok"))
    )
    out = {
        ORDER: batch.column(ORDER),
        "status": pa.array(status, pa.string()),
        "bands": pa.FixedSizeListArray.from_arrays(pa.array(keys.reshape(-1), pa.uint64()), settings.bands),
    }
    if settings.verify:
        out["sig"] = pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1), pa.uint64()), sig.shape[1])
    values, counts = np.unique(status, return_counts=True)
    return pa.table(out), {str(v): int(c) for v, c in zip(values, counts, strict=True)}


def _attach(
    part: pa.Table, index: int, key: str, files: list[str], bounds: list[tuple[int, int]]
) -> pa.Table:
    return part.append_column(f"sig_{key}", lookup(part.column(key).combine_chunks(), files, bounds, "sig"))


def _check(
    part: pa.Table, index: int, files: list[str], bounds: list[tuple[int, int]], threshold: float
) -> pa.Table:
    part = _attach(part, index, "dst", files, bounds)
    if not part.num_rows:
        return EDGE_SCHEMA.empty_table()
    width = part.schema.field("sig_src").type.list_size
    a, b = fixed_list(part.column("sig_src"), width), fixed_list(part.column("sig_dst"), width)
    keep = estimated_jaccard(a, b) >= threshold
    return part.select(["src", "dst"]).filter(pa.array(keep)).cast(EDGE_SCHEMA)


def verify_edges(
    work: Path, edges: dict, files: list[str], bounds: list[tuple[int, int]], threshold: float
) -> dict:
    """Keep the candidate edges whose two signatures agree on at least `threshold` of their values.

    Two range joins: edges partitioned by `src` (then `dst`) on the signature files' `_order` ranges, so a task
    reads only the signature file(s) of its range.
    """
    ranges = shuffle.range_partition(starts(bounds))
    with_src = shuffle.shuffle(
        work,
        "verify_src",
        edges["files"],
        "src",
        len(bounds),
        functools.partial(_attach, key="src", files=files, bounds=bounds),
        EDGE_SCHEMA,
        partitioner=ranges,
        row_wise=True,
    )
    width_schema = pq.read_schema(files[0]) if files else None
    schema = (
        EDGE_SCHEMA.append(width_schema.field("sig").with_name("sig_src")) if width_schema else EDGE_SCHEMA
    )
    return shuffle.shuffle(
        work,
        "verified",
        with_src["files"],
        "dst",
        len(bounds),
        functools.partial(_check, files=files, bounds=bounds, threshold=threshold),
        schema,
        partitioner=ranges,
        row_wise=True,
    )


def _mark_bad_encoding(batch: pa.Table, column: str) -> pa.Table:
    _, bad = text_column(batch.column(column))
    if not bad.any():
        return batch
    return add_marks(batch, ERROR, pa.array(np.where(bad, "non_utf8_text", None), pa.string()))
