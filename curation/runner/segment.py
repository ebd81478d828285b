"""A segment: the row-local ops between two stages, run per work unit in a Ray Data actor pool.

Each actor builds the ops once (models load once per worker), then for every unit it reads, applies the ops
batch by batch, and writes the unit's kept rows, rejects and statistics atomically. A unit whose marker exists
is finished; `--resume` skips it. The driver only sees the small per-unit summaries.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import ray.data

from curation.io.parquet import iter_tables
from curation.io.reader_stats import ReaderStats
from curation.io.readers import read_unit
from curation.io.shards import atomic_write_json, write_parquet_atomic
from curation.io.units import Unit
from curation.recipe import Step
from curation.runner.accounting import StepStats
from curation.runner.executor import apply_op

ORDER = "_order"


@dataclass(frozen=True)
class SegmentSpec:
    """Everything a worker needs to process units of one segment (picklable)."""

    phase_dir: str
    steps: list[Step]
    source: bool  # units are raw input (a reader step is counted, `_order` assigned)
    batch_rows: int = 512
    limit: int | None = None
    rejects_dir: str | None = None
    modules: list[str] = field(default_factory=list)  # what a worker imports to build the steps' ops


def unit_marker(phase_dir: str | Path, key: str) -> Path:
    return Path(phase_dir) / "units" / f"{key}.json"


def unit_data_path(phase_dir: str | Path, key: str) -> Path:
    return Path(phase_dir) / "data" / f"{key}.parquet"


def _input_batches(unit: dict, spec: SegmentSpec, reader_stats: ReaderStats):
    """Batches of the unit's rows: from the reader (source units, `_order` assigned) or a phase file."""
    if not spec.source:
        for table in iter_tables(unit["path"], spec.batch_rows):
            reader_stats.records += table.num_rows
            yield table
        return
    u = Unit(**{k: unit[k] for k in ("index", "path", "format", "start", "end", "row_group")})
    emitted = 0
    for table in read_unit(u, reader_stats, spec.batch_rows):
        if spec.limit is not None and emitted + table.num_rows > spec.limit:
            cut = emitted + table.num_rows - spec.limit
            table = table.slice(0, spec.limit - emitted)
            reader_stats.records -= cut
        order = pa.array(
            range((u.index << 32) + emitted, (u.index << 32) + emitted + table.num_rows), pa.int64()
        )
        emitted += table.num_rows
        yield table.append_column(ORDER, order)
        if spec.limit is not None and emitted >= spec.limit:
            return


class UnitProcessor:
    """Ray Data callable class: one instance per actor, `__call__` takes a batch of unit descriptions."""

    def __init__(self, spec: SegmentSpec) -> None:
        import importlib

        for module in spec.modules:  # only the modules of the ops used: an actor imports no unused op family
            importlib.import_module(module)
        self.spec = spec
        self.ops = [(step.name, step.build()) for step in spec.steps]
        for _, op in self.ops:
            op.setup()

    def __call__(self, batch: pa.Table) -> pa.Table:
        summaries = [self.process(unit) for unit in batch.to_pylist()]
        return pa.table({"key": [s["key"] for s in summaries], "rows": [s["rows"] for s in summaries]})

    def process(self, unit: dict) -> dict:
        spec = self.spec
        reader_stats = ReaderStats()
        step_stats = [StepStats(name, "segment") for name, _ in self.ops]
        rejects: list[pa.Table] | None = [] if spec.rejects_dir else None
        kept: list[pa.Table] = []
        batches = _input_batches(unit, spec, reader_stats)
        read_seconds = 0.0
        while True:
            started = time.perf_counter()
            table = next(batches, None)
            read_seconds += time.perf_counter() - started
            if table is None:
                break
            for (name, op), stats in zip(self.ops, step_stats, strict=True):
                if table.num_rows == 0:
                    break
                table = apply_op(op, name, table, stats, rejects)
            if table.num_rows:
                kept.append(table)
        key = unit["key"]
        rows = 0
        data_path = unit_data_path(spec.phase_dir, key)
        if kept:
            out = pa.concat_tables(kept, promote_options="default")
            rows = out.num_rows
            write_parquet_atomic(out, data_path)
        if rejects:
            write_parquet_atomic(
                pa.concat_tables(rejects, promote_options="default"),
                Path(spec.rejects_dir) / f"{key}.parquet",
            )
        read = StepStats(
            "read",
            "reader",
            rows_in=reader_stats.records,
            dropped=reader_stats.skipped,
            errors=reader_stats.errors,
            seconds=read_seconds,
        )
        read.rows_out = read.rows_in - sum(read.dropped.values()) - sum(read.errors.values())
        summary = {
            "key": key,
            "rows": rows,
            "data": str(data_path) if rows else None,
            "read": read.to_dict(),
            "steps": [s.to_dict() for s in step_stats],
        }
        atomic_write_json(unit_marker(spec.phase_dir, key), summary)
        return summary


def run_segment(units: list[dict], spec: SegmentSpec, max_workers: int, num_gpus: float = 0) -> list[dict]:
    """Process every unfinished unit on the cluster; return all units' summaries in unit order."""
    todo = [u for u in units if not unit_marker(spec.phase_dir, u["key"]).exists()]
    if todo:
        ds = ray.data.from_items(todo, override_num_blocks=len(todo))
        done = ds.map_batches(
            UnitProcessor,
            fn_constructor_kwargs={"spec": spec},
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, min(max_workers, len(todo)))),
            num_cpus=1,
            num_gpus=num_gpus,
        )
        for _ in done.iter_batches(batch_size=None):
            pass
    return [json.loads(unit_marker(spec.phase_dir, u["key"]).read_text()) for u in units]
