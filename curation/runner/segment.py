"""A segment: the row-local ops between two stages, run per work unit as a Ray Data map over unit descriptions.

A worker process builds the segment's ops once (models load once per worker) and keeps them for every later unit
of the segment; then for every unit it reads, applies the ops batch by batch, and writes the unit's kept rows,
rejects and statistics atomically (a unit that keeps no row writes a zero-row file of the schema its rows would
have had, when the ops can say: `executor.zero_row_output`). A unit whose marker exists is finished; `--resume`
skips it. The driver only sees the small per-unit summaries.

Segments with a GPU-capable model (CLIP) run in a Ray Data actor pool: each actor holds its model, and its GPU
when the cluster has one, for the whole segment. Other segments run in Ray Data's task pool: task workers are
pooled processes that start with Ray, and `warm_workers` builds the ops in them while the driver is still
planning, so the first unit starts at once (an actor pool starts its processes only when the segment starts:
~1 s of fixed cost per run here).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import ray.data

from curation.io.parquet import iter_tables
from curation.io.reader_stats import ReaderStats
from curation.io.readers import read_unit
from curation.io.shards import atomic_write_json, write_parquet_atomic
from curation.io.units import Unit
from curation.recipe import Step
from curation.rows import ORDER
from curation.runner.accounting import StepStats
from curation.runner.executor import apply_op, zero_row_output
from curation.runner.progress import Progress

TASK_UNITS = 16  # most units one CPU task processes
TASKS_PER_WORKER = 4
BACKPRESSURE_POLICIES = "backpressure_policies.enabled"  # Ray Data's DataContext config key


@dataclass(frozen=True)
class SegmentSpec:
    """Everything a worker needs to process units of one segment (picklable: each step carries its op class)."""

    phase_dir: str
    steps: list[Step]
    source: bool  # units are raw input (a reader step is counted, `_order` assigned)
    batch_rows: int = 512
    limit: int | None = None
    rejects_dir: str | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # identifies this segment's built ops


def unit_marker(phase_dir: str | Path, key: str) -> Path:
    return Path(phase_dir) / "units" / f"{key}.json"


def unit_data_path(phase_dir: str | Path, key: str) -> Path:
    return Path(phase_dir) / "data" / f"{key}.parquet"


def _input_batches(unit: dict, spec: SegmentSpec, reader_stats: ReaderStats):
    """Batches of the unit's rows: from the reader (source units, `_order` assigned) or a phase file.

    With a limit the reader stops at the batch that holds the unit's `limit`-th row (batches of at most `limit`
    rows, so a small limit reads no record past that row); the records it skipped on the way stay counted.
    """
    if not spec.source:
        read = 0
        for table in iter_tables(unit["path"], spec.batch_rows):
            reader_stats.records += table.num_rows
            read += table.num_rows
            yield table
        if not read:  # a zero-row file carries the schema of a phase that kept no row
            yield pq.read_schema(unit["path"]).empty_table()
        return
    u = Unit(**{k: unit[k] for k in ("index", "path", "format", "start", "end", "row_group")})
    emitted = 0
    batch_rows = spec.batch_rows if spec.limit is None else min(spec.batch_rows, spec.limit)
    for table in read_unit(u, reader_stats, batch_rows):
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


class StepSetupError(RuntimeError):
    """A step's op could not set up on a worker (`Op.setup`: a model that does not load there, a missing file)."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step {step} could not set up on a worker: {reason}")
        self.step, self.reason = step, reason

    def __reduce__(self) -> tuple:
        return StepSetupError, (self.step, self.reason)


_SETUP_FAILED = re.compile(r"StepSetupError: step (\S+) could not set up on a worker: (.*)")


def setup_error(exc: BaseException | None) -> StepSetupError | None:
    """The StepSetupError that `exc`, as the driver gets it from Ray, carries, if any: itself or one in its
    `cause` / `__cause__` / `__context__` chain (a `ray.get`), else one named in its text (Ray Data passes a
    map's error on as a UserCodeException, and an actor's constructor error as an ActorDiedError, holding the
    worker's traceback as text only)."""
    seen: set[int] = set()
    text = ""
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, StepSetupError):
            return exc
        seen.add(id(exc))
        text += str(exc) + "\n"
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    found = _SETUP_FAILED.search(text)
    return StepSetupError(found[1], found[2]) if found else None


class UnitProcessor:
    """The segment's ops built once per worker (an actor, or a task worker process); `__call__` takes a batch of
    unit descriptions. An op whose `setup` fails raises StepSetupError, naming its step."""

    def __init__(self, spec: SegmentSpec) -> None:
        self.spec = spec
        self.ops = [(step.name, step.build()) for step in spec.steps]
        for name, op in self.ops:
            try:
                op.setup()
            except Exception as exc:  # the op's own reason, on one line, with its step
                reason = " ".join(str(exc).split()) or "no message"
                raise StepSetupError(name, f"{type(exc).__name__}: {reason}") from exc

    def __call__(self, batch: pa.Table) -> pa.Table:
        summaries = [self.process(unit) for unit in batch.to_pylist()]
        return pa.table({"key": [s["key"] for s in summaries], "rows": [s["rows"] for s in summaries]})

    def process(self, unit: dict) -> dict:
        spec = self.spec
        marker = unit_marker(spec.phase_dir, unit["key"])
        if (
            marker.exists()
        ):  # finished by an earlier attempt of this task (Ray retries a task whose worker died)
            return json.loads(marker.read_text())
        keep_rejects = spec.rejects_dir is not None
        reader_stats = ReaderStats(path=unit["path"], rejects=[] if keep_rejects and spec.source else None)
        step_stats = [StepStats(name, "segment") for name, _ in self.ops]
        rejects: list[pa.Table] | None = [] if keep_rejects else None
        kept: list[pa.Table] = []
        emptied: tuple[int, pa.Table] | None = None  # the batch that left the fewest ops to run when emptied
        batches = _input_batches(unit, spec, reader_stats)
        read_seconds = 0.0
        while True:
            started = time.perf_counter()
            table = next(batches, None)
            read_seconds += time.perf_counter() - started
            if table is None:
                break
            done = 0
            for (name, op), stats in zip(self.ops, step_stats, strict=True):
                if table.num_rows == 0:
                    break
                table = apply_op(op, name, table, stats, rejects)
                done += 1
            if table.num_rows:
                kept.append(table)
            elif emptied is None or done > emptied[0]:
                emptied = (done, table)
        key = unit["key"]
        data_path = unit_data_path(spec.phase_dir, key)
        out = pa.concat_tables(kept, promote_options="default") if kept else None
        if out is None and emptied is not None:  # no row, but the schema its rows would have had, when known
            out = zero_row_output(self.ops[emptied[0] :], emptied[1])
        if out is not None:
            write_parquet_atomic(out, data_path)
        if (read_rejects := reader_stats.rejects_table()) is not None:
            rejects.insert(0, read_rejects)
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
            "rows": out.num_rows if out is not None else 0,
            "data": str(data_path) if out is not None else None,
            "read": read.to_dict(),
            "steps": [s.to_dict() for s in step_stats],
        }
        atomic_write_json(marker, summary)
        return summary


class ActorProcessor:
    """UnitProcessor in a Ray Data actor. An op that cannot set up fails the actor's first batch, not its
    constructor: Ray Data reports a batch's error as the user's (`setup_error` reads it), an actor that dies in
    its constructor as an internal Ray error, with pages of Ray's own logs."""

    def __init__(self, spec: SegmentSpec) -> None:
        self.processor: UnitProcessor | None = None
        self.failed: StepSetupError | None = None
        try:
            self.processor = UnitProcessor(spec)
        except StepSetupError as exc:
            self.failed = exc

    def __call__(self, batch: pa.Table) -> pa.Table:
        if self.processor is None:
            raise self.failed
        return self.processor(batch)


_BUILT: dict[str, UnitProcessor] = {}  # in a task worker process: the processor of the segment it last ran


def processor_for(spec: SegmentSpec) -> UnitProcessor:
    """This process's processor for `spec`, built on first use; an earlier segment's ops are released."""
    processor = _BUILT.get(spec.token)
    if processor is None:
        _BUILT.clear()  # one segment runs at a time: drop the previous one's ops before building
        processor = _BUILT[spec.token] = UnitProcessor(spec)
    return processor


def process_units(batch: pa.Table, spec: SegmentSpec) -> pa.Table:
    """Ray Data task function: process the batch's units with this worker's (cached) processor."""
    return processor_for(spec)(batch)


@ray.remote(num_cpus=1)
def _warm_segment(spec: SegmentSpec) -> None:
    processor_for(spec)


def warm_workers(spec: SegmentSpec, workers: int) -> list[ray.ObjectRef]:
    """Build `spec`'s ops in up to `workers` pooled worker processes; `ray.get` the result to see build errors."""
    return [_warm_segment.remote(spec) for _ in range(workers)]


@contextlib.contextmanager
def _without_backpressure() -> Iterator[None]:
    """Ray Data's backpressure policies off while a segment executes.

    They guard the object store against large map outputs, and wait for the first task's output size before
    starting the next: that ran the first task of every segment alone. A segment's tasks return one small summary
    row per unit (the units write their own files), so there is nothing to hold back.
    """
    ctx = ray.data.DataContext.get_current()
    unset = object()
    previous = ctx.get_config(BACKPRESSURE_POLICIES, unset)
    ctx.set_config(BACKPRESSURE_POLICIES, [])
    try:
        yield
    finally:
        if previous is unset:
            ctx.remove_config(BACKPRESSURE_POLICIES)
        else:
            ctx.set_config(BACKPRESSURE_POLICIES, previous)


def run_segment(
    units: list[dict],
    spec: SegmentSpec,
    max_workers: int,
    *,
    actors: bool = False,
    num_gpus: float = 0,
    progress: Progress | None = None,
) -> list[dict]:
    """Process every unfinished unit on the cluster (in an actor pool with `actors`, else in the task pool);
    return all units' summaries in unit order. `progress` advances as units finish."""
    todo = [u for u in units if not unit_marker(spec.phase_dir, u["key"]).exists()]
    if progress is not None:
        finished = [
            json.loads(unit_marker(spec.phase_dir, u["key"]).read_text()) for u in units if u not in todo
        ]
        progress.start(
            Path(spec.phase_dir).name,
            len(units),
            "units",
            done=len(finished),
            rows=sum(f["rows"] for f in finished),
        )
    if todo:
        with _without_backpressure():  # before the Dataset is made: it copies the context
            workers = max(1, min(max_workers, len(todo)))
            if actors:
                ds = ray.data.from_items(todo, override_num_blocks=len(todo))
                done = ds.map_batches(
                    ActorProcessor,
                    fn_constructor_kwargs={"spec": spec},
                    batch_size=1,
                    batch_format="pyarrow",
                    compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
                    num_cpus=1,
                    num_gpus=num_gpus,
                )
            else:
                # a task costs ~15 ms of scheduling here: up to TASK_UNITS consecutive units share one, while every
                # worker still gets about TASKS_PER_WORKER tasks to balance the load
                per_task = min(TASK_UNITS, -(-len(todo) // (TASKS_PER_WORKER * workers)))
                ds = ray.data.from_items(todo, override_num_blocks=-(-len(todo) // per_task))
                done = ds.map_batches(
                    process_units,
                    fn_kwargs={"spec": spec},
                    batch_size=1,
                    batch_format="pyarrow",
                    compute=ray.data.TaskPoolStrategy(size=workers),
                    num_cpus=1,
                )
            for finished in done.iter_batches(batch_size=None, batch_format="pyarrow"):
                if progress is not None:
                    progress.advance(finished.num_rows, pc.sum(finished.column("rows")).as_py() or 0)
    return [json.loads(unit_marker(spec.phase_dir, u["key"]).read_text()) for u in units]
