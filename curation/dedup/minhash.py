"""MinHash near-duplicate removal across the whole dataset, with distributed connected components."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray.data

from curation.dedup import subphase
from curation.dedup.candidates import bucket_rows, star_edges
from curation.dedup.components import EDGE_SCHEMA, connected_components
from curation.dedup.grouping import map_groups_local, partitions_for
from curation.dedup.marking import ORDER, mark_duplicates, sorted_labels
from curation.dedup.shingles import shingle_hashes
from curation.dedup.signatures import band_keys, estimated_jaccard, minhash, permutations
from curation.dedup.text_input import fixed_list, group_salts, text_column
from curation.io.shards import atomic_write_json
from curation.ops.base import ERROR, Stage, register, set_column
from curation.runner.context import StageContext

log = logging.getLogger("curation")


@dataclasses.dataclass(frozen=True)
class Preset:
    ngram: int
    shingle: str
    bands: int
    rows: int
    threshold: float
    verify: bool


PRESETS = {
    "fineweb": Preset(ngram=5, shingle="word", bands=14, rows=8, threshold=0.75, verify=True),
    "refinedweb": Preset(ngram=5, shingle="word", bands=450, rows=20, threshold=0.8, verify=False),
    "char": Preset(ngram=5, shingle="char", bands=20, rows=10, threshold=0.75, verify=True),
}
ROWS_PER_PARTITION = 250_000
SHINGLED = ["ok", "short"]


@register("minhash_dedup")
@dataclasses.dataclass
class MinhashDedup(Stage):
    """Drop near-duplicate documents (MinHash LSH), keeping the first document of each cluster in input order.

    Signatures: 64-bit MinHash over shingles of the normalised text (lower case, NFKC, ASCII punctuation and digits
    removed): word `ngram`-grams (`shingle: word`) or character n-grams (`shingle: char`), `bands` x `rows`
    permutations. Documents sharing a band are candidates; with `verify: true` a candidate pair is kept only
    when its estimated Jaccard (fraction of equal signature values) is >= `threshold`. Clusters are the
    connected components of the candidate graph, computed distributed (large-star/small-star rounds); the row
    with the smallest `_order` (first in input order) of each cluster is kept, the others get rule `near_duplicate`.
    `preset` sets the defaults: `fineweb` (5-gram words, 14 bands x 8 rows, ~0.75 Jaccard, as FineWeb; verify
    0.75 on, `verify: false` reproduces FineWeb), `refinedweb` (5-gram words, 450 x 20, verify off) and `char`
    (5-gram characters, 20 x 10, verify 0.75). `group_by: <column>` deduplicates within each value of the column
    only (FineWeb: per crawl dump). `tag_only: true` keeps all rows and writes `dup_cluster` (the kept row's
    `_order`) and `is_duplicate`. Documents without tokens pass through (counted in `summary.json`); documents with
    fewer tokens than `ngram` are one shingle; non-UTF-8 bytes in a binary text column are error `non_utf8_text`.
    """

    requires = ("text",)

    preset: str = "fineweb"
    column: str = "text"
    ngram: int | None = None
    shingle: str | None = None
    bands: int | None = None
    rows: int | None = None
    verify: bool | None = None
    threshold: float | None = None
    group_by: str | None = None
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

    def settings(self) -> Preset:
        """The preset with every explicitly given parameter applied."""
        base = PRESETS[self.preset]
        given = {f: getattr(self, f) for f in ("ngram", "shingle", "bands", "rows", "threshold", "verify")}
        return dataclasses.replace(base, **{k: v for k, v in given.items() if v is not None})

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        s = self.settings()
        work = ctx.work_dir
        total = ctx.rows or ds.count()
        parts = partitions_for(total * s.bands, ROWS_PER_PARTITION, ctx.num_workers)
        sigs = subphase.persist(
            work,
            "signatures",
            lambda: ds.map_batches(
                _signature_batch,
                batch_format="pyarrow",
                batch_size=1024,
                fn_kwargs={
                    "column": self.column,
                    "group_by": self.group_by,
                    "settings": s,
                    "seed": self.seed,
                },
            ),
            meta=subphase.status_counts,
        )
        edges = subphase.persist(work, "candidates", lambda: self._candidates(sigs, s, parts))
        forest = connected_components(edges, work / "components", ctx.num_workers, ROWS_PER_PARTITION)
        self._summary(work, sigs, edges, forest)
        if sigs.get("status", {}).get("non_utf8_text"):
            ds = ds.map_batches(_mark_bad_encoding, fn_kwargs={"column": self.column}, batch_format="pyarrow")
        return mark_duplicates(ds, sorted_labels(work, forest), "near_duplicate", self.tag_only)

    def _candidates(self, sigs: dict, s: Preset, parts: int) -> ray.data.Dataset:
        if not sigs["rows"] or not sum(n for k, n in sigs["status"].items() if k in SHINGLED):
            return ray.data.from_arrow(EDGE_SCHEMA.empty_table())
        rows = subphase.read(sigs).map_batches(
            _band_rows, fn_kwargs={"bands": s.bands}, batch_format="pyarrow"
        )
        edges = map_groups_local(rows, ["key"], star_edges, parts)
        if not s.verify:
            return edges
        return verify_edges(edges, subphase.read(sigs), s.threshold, parts)

    def _summary(self, work: Path, sigs: dict, edges: dict, forest: dict) -> None:
        summary = {
            "signatures": sigs.get("status", {}),
            "candidate_edges": edges["rows"],
            "duplicates": forest["rows"],
            "component_rounds": forest.get("rounds", 0),
        }
        atomic_write_json(work / "summary.json", summary)
        log.info("minhash_dedup: %s", summary)


def _band_rows(batch: pa.Table, bands: int) -> pa.Table:
    batch = batch.filter(pc.is_in(batch.column("status"), pa.array(SHINGLED)))
    return bucket_rows(fixed_list(batch.column("bands"), bands), batch.column(ORDER).to_numpy())


def _signature_batch(
    batch: pa.Table, column: str, group_by: str | None, settings: Preset, seed: int
) -> pa.Table:
    """Per document: `_order`, `status` (ok, short, no_tokens, non_utf8_text), `bands` keys, `sig` if verifying."""
    texts, bad = text_column(batch.column(column))
    sh = shingle_hashes(texts, settings.ngram, settings.shingle)
    sig = minhash(sh.hashes, sh.doc, batch.num_rows, permutations(settings.bands * settings.rows, seed))
    salt = group_salts(batch.column(group_by)) if group_by else None
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
    return pa.table(out)


def verify_edges(
    edges: ray.data.Dataset, sigs: ray.data.Dataset, threshold: float, parts: int
) -> ray.data.Dataset:
    """Keep the edges whose two signatures agree on at least `threshold` of their values."""
    sig_src = sigs.map_batches(
        lambda t: pa.table({"src": t.column(ORDER), "sig_src": t.column("sig")}), batch_format="pyarrow"
    )
    sig_dst = sigs.map_batches(
        lambda t: pa.table({"dst": t.column(ORDER), "sig_dst": t.column("sig")}), batch_format="pyarrow"
    )
    joined = edges.join(sig_src, "inner", parts, on=("src",)).join(sig_dst, "inner", parts, on=("dst",))

    def check(t: pa.Table) -> pa.Table:
        if not t.num_rows:
            return EDGE_SCHEMA.empty_table()
        width = t.schema.field("sig_src").type.list_size
        a, b = fixed_list(t.column("sig_src"), width), fixed_list(t.column("sig_dst"), width)
        keep = estimated_jaccard(a, b) >= threshold
        return t.select(["src", "dst"]).filter(pa.array(keep)).cast(EDGE_SCHEMA)

    return joined.map_batches(check, batch_format="pyarrow")


def _mark_bad_encoding(batch: pa.Table, column: str) -> pa.Table:
    _, bad = text_column(batch.column(column))
    if not bad.any():
        return batch
    errors = pa.array(np.where(bad, "non_utf8_text", None), pa.string())
    existing = batch.column(ERROR) if ERROR in batch.column_names else None
    return set_column(batch, ERROR, pc.coalesce(existing, errors) if existing is not None else errors)
