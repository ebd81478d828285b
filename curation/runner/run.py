"""`run_recipe`: check the recipe against its input and the output folder, start Ray, prepare the folder, run the
phases one after the other (`phases`), write `stats.json` and the manifest."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pyarrow as pa

from curation.io.rejects import unify_rejects
from curation.io.shards import MANIFEST_NAME, atomic_write_json, write_manifest
from curation.io.units import InputError, expand_paths
from curation.preflight import check_input_schemas, check_steps
from curation.recipe import Recipe, as_run, check_columns
from curation.runner.accounting import StepStats, run_totals
from curation.runner.cluster import start_ray
from curation.runner.output_folder import (
    PLAN,
    WORK,
    OutputExists,
    check_output_folder,
    prepare_output_folder,
)
from curation.runner.phases import Finalize, PhaseResult, ShardsResult, plan_phases
from curation.runner.plan import plan_units
from curation.runner.progress import Progress

log = logging.getLogger("curation")
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


@dataclass
class RunResult:
    output: Path
    stats: dict
    manifest: dict
    seconds: float


def _versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def run_recipe(
    recipe: Recipe,
    *,
    output: str | None = None,
    inputs: list[str] | None = None,
    address: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    limit: int | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run `recipe` end to end and return where it wrote, its stats and manifest (`progress`: a line per phase)."""
    started = time.perf_counter()
    recipe = as_run(recipe, inputs, output, limit)
    files = expand_paths(recipe.input_paths)  # a missing input fails here, before anything starts
    check_input_schemas(files, recipe.input_format)
    check_columns(recipe, files)  # structural, cheap: before any model is loaded
    check_steps(recipe)
    out = Path(recipe.output_path)
    digest = recipe.digest(files)
    check_output_folder(out, digest, files, recipe.limit, resume, overwrite)
    # Ray before the folder is touched: a run that cannot start leaves the output folder as it was
    cluster = start_ray(address, recipe.max_workers)
    prepare_output_folder(out, overwrite)
    plan = {"digest": digest, "recipe": recipe.raw, "inputs": files, "limit": recipe.limit}
    atomic_write_json(out / WORK / PLAN, plan)
    progress = progress or Progress()
    source, rest = plan_phases(recipe, out, out / WORK, cluster, resume)
    source.warm()  # task workers build the first segment's ops (imports, models) while the driver plans the units
    source.units = plan_units(files, recipe.input_format, recipe.unit_bytes, out / WORK)
    if not source.units:
        raise InputError("the input holds no work units")
    result = PhaseResult(files=[], stats=[])
    for phase in (source, *rest):
        done = phase.run(result.files, progress)
        result = PhaseResult(done.files, result.stats + done.stats)
    final = Finalize(out, recipe.shard_rows).run(result.files, progress)
    if recipe.rejects:
        unify_rejects(out / "rejects")
    return _write_outputs(out, recipe, digest, files, result.stats, final, time.perf_counter() - started)


def _write_outputs(
    out: Path,
    recipe: Recipe,
    digest: str,
    inputs: list[str],
    steps: list[StepStats],
    final: ShardsResult,
    seconds: float,
) -> RunResult:
    """`stats.json` and the manifest of a finished run."""
    stats = {
        "recipe": recipe.name,
        "steps": [s.to_dict() for s in steps],
        "totals": run_totals(steps),
        "seconds": round(seconds, 3),
    }
    atomic_write_json(out / STATS, stats)
    rejects = out / "rejects"
    manifest = write_manifest(
        out,
        final.shards,
        final.schema if final.schema is not None else pa.schema([]),
        recipe={"name": recipe.name, "digest": digest, "body": recipe.raw},
        inputs=inputs,
        limit=recipe.limit,
        versions=_versions(),
        stats=stats,
        rejects=rejects.name if recipe.rejects and rejects.exists() else None,
    )
    return RunResult(output=out, stats=stats, manifest=manifest, seconds=seconds)


__all__ = ["MANIFEST_NAME", "OutputExists", "RunResult", "run_recipe"]
