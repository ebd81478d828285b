"""`metaclip_balance`: MetaCLIP balancing over the whole pool, as resumable sub-phases.

1. `counts`: matches per entry, one task per input file (partials persisted), summed; written in MetaCLIP's
   format (or read from `entry_counts:` instead, to re-balance a matched pool at another t without counting).
2. `solve_t` (with `target_rows`): the expected kept rows for a grid of t, then a finer grid around the target.
3. `decide`: per-entry counts among kept rows and of passed draws (the "after" distribution).
4. the rows are marked where they lie: `no_match` (no matched entry) or `balanced_out`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray
import ray.data

from curation.balance import keep
from curation.balance.counts import Counts, count_files, counts_path, load_counts, save_counts, savez_atomic
from curation.balance.entries import list_files, load_all
from curation.balance.matching import MATCHED
from curation.io.parquet import iter_tables
from curation.io.shards import atomic_write_json
from curation.ops.base import AT_LEAST_0, Stage, register
from curation.rows import DROP, ORDER, set_column
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext
from curation.stagekit.input import dataset_files, require_columns

log = logging.getLogger("curation")
SUMMARY = "metaclip_balance.json"
GRID = 48  # t values evaluated per pass when solving for a target size
TAG_COLUMN = "metaclip_keep"


def _columns(have: list[str], lang_column: str, uid_column: str) -> list[str]:
    return [ORDER, MATCHED] + [
        c for c in (lang_column, uid_column) if c in have and c not in (ORDER, MATCHED)
    ]


def _match_ids(
    batch: pa.Table, names: tuple[str, ...], lang_column: str
) -> dict[tuple[str, str], np.ndarray]:
    m = keep.batch_matches(batch, MATCHED, lang_column, names)
    return {("matches", name): m.ids[m.lists == i] for i, name in enumerate(names)}


def _after_ids(batch: pa.Table, spec: dict) -> dict[tuple[str, str], np.ndarray]:
    names = spec["names"]
    m = keep.batch_matches(batch, MATCHED, spec["lang_column"], names)
    kept, passed = keep.decide(
        m, _probs(spec["probs"]), keep.uid_hashes(batch, spec["uid_column"], spec["seed"])
    )
    in_kept = kept[m.rows]
    out = {}
    for i, name in enumerate(names):
        sel = m.lists == i
        out[("kept", name)] = m.ids[sel & in_kept]
        out[("passed", name)] = m.ids[sel & passed]
    out[("rows", names[0])] = np.zeros(int(kept.sum()), np.int64)  # kept rows, counted on entry 0
    return out


def _probs(path: str) -> dict[str, np.ndarray]:
    """The arrays of an npz file, cached per worker process (keyed by mtime and size: a rerun rewrites them)."""
    st = os.stat(path)
    return _read_npz(path, (st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=2)
def _read_npz(path: str, stamp: tuple[int, int]) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@ray.remote(num_cpus=1)
def _expected_file(
    path: str, columns: list[str], names: tuple[str, ...], lang_column: str, grid_probs: str
) -> list[float]:
    grid = _probs(grid_probs)
    steps = sorted({int(k.split(".", 1)[0]) for k in grid})
    out = [0.0] * len(steps)
    for batch in iter_tables(path, 16384, columns):
        m = keep.batch_matches(batch, MATCHED, lang_column, names)
        for j, step in enumerate(steps):
            out[j] += keep.expected_rows(m, {n: grid[f"{step}.{n}"] for n in names})
    return out


def _mark(batch: pa.Table, spec: dict, tag_only: bool) -> pa.Table:
    m = keep.batch_matches(batch, MATCHED, spec["lang_column"], spec["names"])
    kept, _ = keep.decide(m, _probs(spec["probs"]), keep.uid_hashes(batch, spec["uid_column"], spec["seed"]))
    if tag_only:
        return set_column(batch, TAG_COLUMN, pa.array(kept & m.matched_rows))
    reason = np.where(m.matched_rows, np.where(kept, None, "balanced_out"), "no_match")
    previous = batch.column(DROP).to_pylist() if DROP in batch.column_names else [None] * batch.num_rows
    merged = [p if p is not None else r for p, r in zip(previous, reason.tolist(), strict=True)]
    return set_column(batch, DROP, pa.array(merged, pa.string()))


@register("metaclip_balance")
@dataclasses.dataclass
class MetaclipBalance(Stage):
    """MetaCLIP balancing: keep a matched row when any entry passes `u < t / max(count, t)`; counts are global.

    Needs `matched_entries` (from `metaclip_match`) and the same `metadata`. Give `t` (MetaCLIP 400M: 20000,
    MetaCLIP 2 English: 170000) or `target_rows` (t is solved so the expected output is at least that many
    rows). `entry_counts:` reuses a counts file (`entry_count.npy` / `entry_counts.npz`) instead of counting.
    Per-language lists: `t` is `t_lang`'s, the others' are derived as in MetaCLIP 2. Draws come from
    (`seed`, `uid_column`; `_order` where absent). Rules: `no_match`, `balanced_out`; `tag_only: true` writes
    a boolean `metaclip_keep` instead.
    """

    requires = (MATCHED,)
    tag_fields = (pa.field(TAG_COLUMN, pa.bool_()),)

    ranges = {"t": AT_LEAST_0, "target_rows": AT_LEAST_0}

    metadata: str = ""
    t: int = 0
    target_rows: int = 0
    entry_counts: str = ""
    lang_column: str = "lang"
    t_lang: str = "en"
    uid_column: str = "uid"

    def validate(self) -> None:
        if not self.metadata:
            raise ValueError("metadata: give the metadata.json (or folder) the pool was matched against")
        if (self.t > 0) == (self.target_rows > 0):
            raise ValueError("give exactly one of t (> 0) or target_rows (> 0)")
        if self.t < 0 or self.target_rows < 0:
            raise ValueError("t and target_rows must be positive")
        load_all(self.metadata)
        if self.entry_counts:
            load_counts(self.entry_counts, self._sizes())

    def _sizes(self) -> dict[str, int]:
        return {name: len(lst.entries) for name, lst in load_all(self.metadata).items()}

    def _counts(self, files: list[str], columns: list[str], ctx: StageContext) -> tuple[Counts, Path]:
        sizes = self._sizes()
        if self.entry_counts:
            return load_counts(self.entry_counts, sizes), Path(self.entry_counts)
        names = tuple(sorted(sizes))
        fn = functools.partial(_match_ids, names=names, lang_column=self.lang_column)
        found = count_files(ctx.work_dir, "counts", files, fn, columns, sizes).get("matches", {})
        counts = {n: found.get(n, np.zeros(s, np.uint64)) for n, s in sizes.items()}
        target = counts_path(ctx.work_dir, list(sizes))
        if not target.exists():
            save_counts(counts, target)
        return counts, target

    def _solve_t(
        self, counts: Counts, files: list[str], columns: list[str], ctx: StageContext
    ) -> tuple[float, list]:
        """The smallest t whose expected output reaches `target_rows` (all matched rows where none does)."""
        marker = shuffle.done(ctx.work_dir, "solve_t")
        if marker is not None:
            return marker["t"], marker["curve"]
        primary = self.t_lang if self.t_lang in counts else next(iter(counts))
        top = max(1, int(counts[primary].max()))
        names = tuple(sorted(counts))
        curve: list[tuple[int, float]] = []
        grid = np.unique(np.round(np.geomspace(1, top, GRID)).astype(np.int64))
        for attempt in range(8):
            path = ctx.work_dir / f"solve_t_grid{attempt}.npz"
            arrays = {}
            for t in grid.tolist():
                probs = keep.keep_probabilities(counts, keep.thresholds(counts, t, primary))
                arrays.update({f"{t}.{n}": p for n, p in probs.items()})
            savez_atomic(path, arrays)
            parts = ray.get(
                [_expected_file.remote(f, columns, names, self.lang_column, str(path)) for f in files]
            )
            values = np.sum(np.asarray(parts, np.float64), axis=0) if parts else np.zeros(len(grid))
            curve.extend(zip(grid.tolist(), values.tolist(), strict=True))
            reached = np.flatnonzero(values >= self.target_rows)
            if not len(reached):
                t = top  # the target exceeds what balancing can keep: every matched row is kept
                log.warning(
                    "metaclip_balance: target_rows %d > expected rows at t=max count; t=%d",
                    self.target_rows,
                    t,
                )
                break
            hi = int(grid[reached[0]])
            lo = int(grid[reached[0] - 1]) if reached[0] > 0 else hi
            if hi - lo <= 1:
                t = hi
                break
            grid = np.unique(np.linspace(lo, hi, GRID).round().astype(np.int64))
        else:
            t = hi
        curve = sorted(set(curve))
        atomic_write_json(ctx.work_dir / "solve_t" / shuffle.SUCCESS, {"t": t, "curve": curve})
        return t, curve

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        files = dataset_files(ds, ctx)
        require_columns(files, [ORDER, MATCHED], self.op_name)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        columns = _columns(pq.read_schema(files[0]).names, self.lang_column, self.uid_column)
        counts, counts_file = self._counts(files, columns, ctx)
        names = tuple(sorted(counts))
        primary = self.t_lang if self.t_lang in counts else names[0]
        t, curve = (self.t, []) if self.t else self._solve_t(counts, files, columns, ctx)
        ts = keep.thresholds(counts, t, primary)
        probs_path = savez_atomic(
            ctx.work_dir / "keep_probabilities.npz", keep.keep_probabilities(counts, ts)
        )
        spec = {
            "names": names,
            "lang_column": self.lang_column,
            "uid_column": self.uid_column,
            "seed": ctx.seed,
            "probs": str(probs_path),
        }
        sizes = {n: len(c) for n, c in counts.items()}
        after = count_files(
            ctx.work_dir, "decide", files, functools.partial(_after_ids, spec=spec), columns, sizes
        )
        zeros = {n: np.zeros(s, np.uint64) for n, s in sizes.items()}
        kept_counts = {**zeros, **after.get("kept", {})}
        passed_counts = {**zeros, **after.get("passed", {})}
        kept_rows = int(after.get("rows", {}).get(names[0], np.zeros(1))[0])
        kept_file = save_counts(
            kept_counts, counts_path(ctx.work_dir, list(sizes)).with_stem("kept_entry_count")
        )
        passed_file = save_counts(
            passed_counts, counts_path(ctx.work_dir, list(sizes)).with_stem("passed_entry_count")
        )
        summary = {
            "metadata": str(Path(self.metadata).resolve()),
            "lists": {n: list_files(self.metadata)[n].name for n in names},
            "t": t,
            "t_per_list": ts,
            "target_rows": self.target_rows or None,
            "t_curve": curve,
            "rows": ctx.rows,
            "kept_rows": kept_rows,
            "entry_counts": str(counts_file.resolve()),
            "kept_entry_counts": kept_file.name,  # beside this summary
            "passed_entry_counts": passed_file.name,
        }
        atomic_write_json(ctx.work_dir / SUMMARY, summary)
        return ds.map_batches(
            _mark, fn_kwargs={"spec": spec, "tag_only": self.tag_only}, batch_format="pyarrow"
        )
