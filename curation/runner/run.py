"""Turn a recipe into phases (segments of row-local ops, and stages), run them on Ray, resume, account, write."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import pyarrow as pa
import ray

from curation.io.shards import MANIFEST_NAME, atomic_write_json, write_manifest
from curation.io.units import InputError, expand_paths
from curation.lifeline import start_reaper
from curation.preflight import check_input_schemas, check_output, check_resume, check_steps
from curation.recipe import Recipe, Step
from curation.runner.accounting import StepStats, run_totals
from curation.runner.finalize import write_final_shards
from curation.runner.plan import plan_units
from curation.runner.segment import SegmentSpec, run_segment, warm_workers
from curation.runner.stage_phase import run_stage
from curation.stagekit.context import StageContext

log = logging.getLogger("curation")
WORK = "_work"
PLAN = "_plan.json"
STATS = "stats.json"
VERSIONED = (
    "mmcurate",
    "ray",
    "pyarrow",
    "polars",
    "fastwarc",
    "resiliparse",
    "trafilatura",
    "fasttext-predict",
)


class OutputExists(RuntimeError):
    """The output folder holds an earlier run and neither resume nor overwrite was asked for."""


@dataclass
class RunResult:
    output: Path
    stats: dict
    manifest: dict
    seconds: float


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


def _prepare_output(out: Path, recipe: Recipe, resume: bool, overwrite: bool, files: list[str]) -> None:
    plan_file = out / WORK / PLAN
    check_output(out)
    if out.exists() and any(out.iterdir()):
        if overwrite:
            shutil.rmtree(out)
        elif resume:
            if plan_file.exists():
                previous = json.loads(plan_file.read_text())["digest"]
                if previous != recipe.digest:
                    raise OutputExists(
                        f"{out} was produced by a different recipe (digest {previous} != {recipe.digest}); "
                        "resume needs the same recipe and input"
                    )
                check_resume(json.loads(plan_file.read_text()), files, recipe.limit)
        else:
            raise OutputExists(
                f"output {out} is not empty: pass --resume to continue it or --overwrite to replace it"
            )
    (out / WORK).mkdir(parents=True, exist_ok=True)


def _versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _ensure_ray(address: str | None) -> None:
    """Start (or join) Ray and tune Ray Data for this driver.

    Ray Data splits every read into at least 200 blocks by default, which turns a small stage into hundreds of
    tasks and a 200-way sort; blocks here follow the data (files of bounded size) and the cluster's cores.
    """
    if not ray.is_initialized():
        # no address (and no RAY_ADDRESS): a Ray of our own, never a cluster someone else started on this machine
        address = address or os.environ.get("RAY_ADDRESS") or "local"
        if address == "local":
            start_reaper()  # this Ray's processes end with this driver, however it ends
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    ctx.read_op_min_num_blocks = 2 * cpus
    ctx.default_hash_shuffle_parallelism = 2 * cpus


def run_recipe(
    recipe: Recipe,
    *,
    output: str | None = None,
    inputs: list[str] | None = None,
    address: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    limit: int | None = None,
) -> RunResult:
    """Run `recipe` end to end and return where it wrote, its stats and manifest."""
    started = time.perf_counter()
    if inputs:
        recipe = replace(recipe, input_paths=list(inputs))
    if limit is not None:
        recipe = replace(recipe, limit=limit)
    files = expand_paths(recipe.input_paths)  # a missing input fails here, before anything starts
    check_input_schemas(files, recipe.input_format)
    check_steps(recipe)
    out = Path(output or recipe.output_path)
    _prepare_output(out, recipe, resume, overwrite, files)
    work = out / WORK
    plan = {"digest": recipe.digest, "recipe": recipe.raw, "inputs": files, "limit": recipe.limit}
    atomic_write_json(work / PLAN, plan)
    _ensure_ray(address)
    max_workers = recipe.max_workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    rejects_root = out / "rejects" if recipe.rejects else None
    phases = split_phases(recipe.steps)
    labels = [
        f"p{index:02d}_{kind}" + (f"_{steps[0].name}" if kind == "stage" else "")
        for index, (kind, steps) in enumerate(phases)
    ]

    def segment_spec(index: int, steps: list[Step]) -> SegmentSpec:
        rejects_dir = str(rejects_root / labels[index]) if rejects_root else None
        return SegmentSpec(
            str(work / labels[index]),
            steps,
            index == 0,
            recipe.batch_rows,
            recipe.limit,
            rejects_dir,
        )

    first = segment_spec(0, phases[0][1])
    # task workers build the first segment's ops (imports, models) while the driver plans the units
    warming = [] if needs_actors(phases[0][1]) else warm_workers(first, max_workers)
    units = plan_units(files, recipe.input_format, recipe.unit_bytes, work)
    if not units:
        raise InputError("the input holds no work units")

    step_stats: list[StepStats] = []
    files_in: list[tuple[str, int]] = []
    for index, (kind, steps) in enumerate(phases):
        phase_dir = work / labels[index]
        if kind == "segment":
            source = index == 0
            seg_units = units if source else [{"key": Path(p).stem, "path": p} for p, _ in files_in]
            spec = first if source else segment_spec(index, steps)
            actors = needs_actors(steps)
            gpus = 1.0 if actors and has_gpu else 0.0
            try:
                summaries = run_segment(seg_units, spec, max_workers, actors=actors, num_gpus=gpus)
            finally:
                ray.get(warming)  # an op that cannot be built raises its own error here
                warming = []
            phase_stats = [StepStats(s.name, "segment") for s in steps]
            if source:
                read = StepStats("read", "reader")
                for s in summaries:
                    read.merge(StepStats.from_dict(s["read"]))
                step_stats.append(read)
            for s in summaries:
                for acc, d in zip(phase_stats, s["steps"], strict=True):
                    acc.merge(StepStats.from_dict(d))
            step_stats.extend(phase_stats)
            files_in = [(s["data"], s["rows"]) for s in summaries if s["rows"]]
        else:
            ctx = StageContext(
                work_dir=phase_dir / "intermediate", seed=recipe.seed, num_workers=max_workers, resume=resume
            )
            rejects_dir = rejects_root / labels[index] if rejects_root else None
            summary = run_stage(steps[0], files_in, phase_dir, ctx, rejects_dir)
            step_stats.append(StepStats.from_dict(summary["stats"]))
            files_in = [tuple(f) for f in summary["files"]]

    shards, schema = write_final_shards(files_in, out, recipe.shard_rows)
    seconds = time.perf_counter() - started
    stats = {
        "recipe": recipe.name,
        "steps": [s.to_dict() for s in step_stats],
        "totals": run_totals(step_stats),
        "seconds": round(seconds, 3),
    }
    atomic_write_json(out / STATS, stats)
    manifest = write_manifest(
        out,
        shards,
        schema if schema is not None else pa.schema([]),
        recipe={"name": recipe.name, "digest": recipe.digest, "body": recipe.raw},
        inputs=files,
        versions=_versions(),
        stats=stats,
        rejects=str(rejects_root.relative_to(out)) if rejects_root and rejects_root.exists() else None,
    )
    return RunResult(output=out, stats=stats, manifest=manifest, seconds=seconds)


__all__ = ["MANIFEST_NAME", "OutputExists", "RunResult", "run_recipe", "split_phases"]
