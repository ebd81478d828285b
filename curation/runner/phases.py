"""The phases of a run, each an object whose `run` takes the previous phase's files and returns a typed result.

A recipe's steps split into segments (the row-local steps between two stages) and stages; `plan_phases` makes one
phase object per part, and the run ends with `Finalize` (the fixed-size output shards).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import ray

from curation.io.shards import ShardInfo
from curation.recipe import Recipe, Step
from curation.runner.accounting import StepStats
from curation.runner.cluster import Cluster
from curation.runner.finalize import write_final_shards
from curation.runner.progress import Progress
from curation.runner.segment import SegmentSpec, StepSetupError, run_segment, setup_error, warm_workers
from curation.runner.stage_phase import run_stage
from curation.stagekit.context import StageContext

Files = list[tuple[str, int]]  # a phase's output: parquet files and their row counts, in row order


def kept_files(files: Files) -> Files:
    """The files that hold rows; when none does, the first zero-row file, which carries the schema of the rows
    (`Files` of a phase that kept no row: one zero-row file, or nothing when no schema is known)."""
    return [f for f in files if f[1]] or files[:1]


@dataclass
class PhaseResult:
    """The files a phase wrote (in row order) and the statistics of its steps."""

    files: Files
    stats: list[StepStats]


@dataclass
class ShardsResult:
    """The final shards and their schema (None when no row was kept and their schema is unknown)."""

    shards: list[ShardInfo]
    schema: pa.Schema | None


def split_phases(steps: list[Step]) -> list[tuple[str, list[Step]]]:
    """[("segment", [row-local steps]), ("stage", [stage]), ...]; the first phase is always a segment."""
    phases: list[tuple[str, list[Step]]] = [("segment", [])]
    for step in steps:
        if step.is_stage:
            phases.append(("stage", [step]))
        elif phases[-1][0] == "segment":
            phases[-1][1].append(step)
        else:
            phases.append(("segment", [step]))
    return phases


def needs_actors(steps: list[Step]) -> bool:
    """A segment with a GPU-capable model runs in an actor pool (a GPU per actor when the cluster has one)."""
    return any(s.cls.uses_gpu for s in steps)


@dataclass
class SegmentPhase:
    """Row-local steps over work units: the input's units (the source segment) or the previous phase's files."""

    label: str
    spec: SegmentSpec
    cluster: Cluster
    units: list[dict] = field(default_factory=list)  # the source segment's planned work units
    _warming: list[ray.ObjectRef] = field(default_factory=list)

    @property
    def actors(self) -> bool:
        return needs_actors(self.spec.steps)

    def warm(self) -> None:
        """Build the ops in the pooled task workers now (an actor pool builds them when it starts)."""
        if not self.actors:
            self._warming = warm_workers(self.spec, self.cluster.workers)

    def run(self, files: Files, progress: Progress) -> PhaseResult:
        units = self.units if self.spec.source else [{"key": Path(p).stem, "path": p} for p, _ in files]
        gpus = 1.0 if self.actors and self.cluster.has_gpu else 0.0
        try:
            try:
                summaries = run_segment(
                    units,
                    self.spec,
                    self.cluster.workers,
                    actors=self.actors,
                    num_gpus=gpus,
                    progress=progress,
                )
            finally:
                progress.finish()
                ray.get(self._warming)  # an op that cannot be built raises its own error here
                self._warming = []
        except Exception as exc:
            # an op that could not set up on a worker: its error alone, not Ray's wrappers
            if (failed := setup_error(exc)) is None:
                raise
            raise StepSetupError(failed.step, failed.reason) from None
        stats = [StepStats(s.name, "segment") for s in self.spec.steps]
        for summary in summaries:
            for acc, d in zip(stats, summary["steps"], strict=True):
                acc.merge(StepStats.from_dict(d))
        if self.spec.source:
            read = StepStats("read", "reader")
            for summary in summaries:
                read.merge(StepStats.from_dict(summary["read"]))
            stats.insert(0, read)
        return PhaseResult(kept_files([(s["data"], s["rows"]) for s in summaries if s["data"]]), stats)


@dataclass
class StagePhase:
    """One Stage over the previous phase's rows."""

    label: str
    step: Step
    phase_dir: Path
    ctx: StageContext
    rejects_dir: Path | None

    def run(self, files: Files, progress: Progress) -> PhaseResult:
        try:
            summary = run_stage(self.step, files, self.phase_dir, self.ctx, self.rejects_dir, progress)
        finally:
            progress.finish()
        return PhaseResult([tuple(f) for f in summary["files"]], [StepStats.from_dict(summary["stats"])])


@dataclass
class Finalize:
    """The last phase: fixed-size output shards under `<out>/data/`."""

    out: Path
    shard_rows: int

    def run(self, files: Files, progress: Progress) -> ShardsResult:
        shards, schema = write_final_shards(files, self.out, self.shard_rows, progress)
        return ShardsResult(shards, schema)


Phase = SegmentPhase | StagePhase


def plan_phases(
    recipe: Recipe, out: Path, work: Path, cluster: Cluster, resume: bool
) -> tuple[SegmentPhase, list[Phase]]:
    """One phase object per segment and stage of `recipe`, working under `work`: the source segment (it reads the
    input) and the phases after it."""
    rejects = out / "rejects" if recipe.rejects else None
    phases: list[Phase] = []
    for index, (kind, steps) in enumerate(split_phases(recipe.steps)):
        label = f"p{index:02d}_{kind}" + (f"_{steps[0].name}" if kind == "stage" else "")
        rejects_dir = rejects / label if rejects else None
        if kind == "segment":
            spec = SegmentSpec(
                str(work / label),
                steps,
                index == 0,
                recipe.batch_rows,
                recipe.limit,
                str(rejects_dir) if rejects_dir else None,
            )
            phases.append(SegmentPhase(label, spec, cluster))
        else:
            ctx = StageContext(
                work_dir=work / label / "intermediate",
                seed=recipe.seed,
                num_workers=cluster.workers,
                resume=resume,
            )
            phases.append(StagePhase(label, steps[0], work / label, ctx, rejects_dir))
    source, *rest = phases
    assert isinstance(source, SegmentPhase)
    return source, rest
