"""`curate bench`: prepare and score the pool once, then select, export, train and evaluate per (strategy, seed).

Output folder:
  bench.json                 the benchmark (and its digest: --resume refuses a changed benchmark)
  pool/                      built pool, teacher, scored pool (each step marked done)
  subsets/<ids digest>/      WebDataset shards of one selection (shared by runs that select the same rows)
  runs/<strategy>/seed<N>/   open_clip's log and checkpoint, trainer arguments, result.json (written last)
  table.md, table.json, table.png
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curation.bench.config import DIGEST_IGNORES, BenchConfig, BenchError, check_models
from curation.bench.evaluate import Evaluator, TaskDataMissing, check_task, headline
from curation.bench.pool import Pool
from curation.bench.scales import Scale, get_scale
from curation.bench.strategies import Strategy, StrategyError, select
from curation.bench.trainer import TrainingError, model_reference, train_clip
from curation.io.shards import atomic_write_json

Log = Callable[[str], None]


@dataclass
class BenchOutcome:
    table: dict
    paths: dict[str, Path]
    skipped_tasks: dict[str, str]
    trained: list[str]  # "strategy/seedN" runs trained in this invocation (the others were already done)


def _prepare_output(cfg: BenchConfig, resume: bool) -> None:
    marker = cfg.output / "bench.json"
    if marker.is_file():
        done = json.loads(marker.read_text())
        if not resume:
            raise BenchError(
                f"{cfg.output} holds a benchmark already; pass --resume to continue it (finished runs are kept) "
                "or choose another output"
            )
        if done["digest"] != cfg.digest:
            was, now = done.get("bench", {}), cfg.raw
            changed = [
                k for k in sorted(set(was) | set(now)) if k not in DIGEST_IGNORES and was.get(k) != now.get(k)
            ]
            if done.get("scale", {}).get("name") != cfg.scale.name and "scale" not in changed:
                changed.append("scale (--scale)")
            raise BenchError(
                f"{cfg.output} holds a different benchmark (changed: {', '.join(changed) or 'digest'}); --resume "
                "continues only the same benchmark: undo the change or choose another output"
            )
        return
    held = {p.name for p in cfg.output.iterdir()} if cfg.output.is_dir() else set()
    scored_pool = held == {"pool"} and (cfg.output / "pool" / "built.json").is_file()  # reused, not rebuilt
    if held and not scored_pool:  # a folder of something else: never written into
        raise BenchError(
            f"{cfg.output} is not empty and holds no benchmark (no bench.json): choose a new or empty output"
        )
    cfg.output.mkdir(parents=True, exist_ok=True)
    atomic_write_json(marker, {"digest": cfg.digest, "scale": vars(cfg.scale), "bench": cfg.raw})


def _export_table_shards(parquet_dir: Path, target: Path, cfg: BenchConfig) -> list[Path]:
    pool = Pool.open(parquet_dir)
    cols = cfg.columns
    return _exported(pool, np.arange(pool.num_rows), target, cfg, cols)


def _exported(
    pool: Pool, ids: np.ndarray, target: Path, cfg: BenchConfig, cols: dict[str, str]
) -> list[Path]:
    done = target / "_done.json"
    if done.is_file():
        return [target / s for s in json.loads(done.read_text())["shards"]]
    shards = pool.export(ids, target, cfg.samples_per_shard, cols["image"], cols["caption"], cols["uid"])
    atomic_write_json(done, {"shards": [s.name for s in shards], "rows": int(len(ids))})
    return shards


def _save_model_folder(scale: Scale, checkpoint: Path, folder: Path) -> Path:
    """A trained checkpoint as a local open_clip model folder (config + safetensors), loadable by path."""
    import torch
    from safetensors.torch import save_file

    model_reference(scale, folder)
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    state = {k.removeprefix("module."): v.contiguous() for k, v in state.items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder


def _substitute(value: object, teacher: str) -> object:
    if isinstance(value, str):
        return value.replace("{teacher}", teacher)
    if isinstance(value, list):
        return [_substitute(v, teacher) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, teacher) for k, v in value.items()}
    return value


def prepare_pool(cfg: BenchConfig, log: Log) -> Pool:
    """Build (tiny benchmark), train the teacher, and score the pool once; each step is skipped when done."""
    root = cfg.output / "pool"
    teacher = ""
    if "fashion_mnist" in cfg.pool:
        from curation.bench.fashion import Noise, build_pool

        fm = cfg.pool["fashion_mnist"]
        built = root / "built.json"
        if not built.is_file():
            src = Path(fm.get("root", "../shared/data/fashion_mnist"))
            log(f"building the pool from {src}")
            counts = build_pool(
                src,
                root,
                int(fm.get("teacher_rows", 10_000)),
                Noise(**fm.get("noise", {})),
                int(fm.get("seed", 0)),
                fm.get("pool_rows"),
            )
            atomic_write_json(built, {"planted": counts})
        raw_path = root / "pool"
        tscale = get_scale(
            cfg.scale.name if cfg.scale.name == "tiny" else "tiny", cfg.pool.get("teacher", {})
        )
        folder = root / "teacher_model"
        if not (folder / "open_clip_model.safetensors").is_file():
            shards = _export_table_shards(root / "teacher", root / "teacher_shards", cfg)
            log(f"training the teacher CLIP on the clean split ({tscale.samples_seen:,} samples seen)")
            seed = int(fm.get("seed", 0))
            result = train_clip(
                tscale, shards, root / "teacher_run", seed, cfg.workers, cfg.device, cfg.threads
            )
            _save_model_folder(tscale, result.checkpoint, folder)
        teacher = str(folder.resolve())
    else:
        raw_path = Path(cfg.pool["path"])
    if not cfg.pool.get("score"):
        return Pool.open(raw_path)
    scored = root / "scored"
    if not (scored / "_manifest.json").is_file():
        import ray

        from curation.recipe import parse_recipe
        from curation.runner.run import run_recipe

        recipe = parse_recipe(
            {
                "name": f"{cfg.name}_pool",
                "input": {"paths": [str(f) for f in Pool.open(raw_path).files], "format": "parquet"},
                "output": {"path": str(scored), "shard_rows": 1_000_000},
                "steps": _substitute(cfg.pool["score"], teacher),
            },
            "pool.score",
        )
        log(f"scoring the pool once: {', '.join(s.name for s in recipe.steps)}")
        started_ray = not ray.is_initialized()
        try:
            run_recipe(recipe, overwrite=True)
        finally:
            if started_ray:
                ray.shutdown()
    return Pool.open(scored)


def _check_pool_source(cfg: BenchConfig) -> None:
    """The pool's source exists with the columns training reads (the Fashion-MNIST folder while the pool is not
    built yet)."""
    if "fashion_mnist" not in cfg.pool:
        pool = Pool.open(cfg.pool["path"])  # FileNotFoundError naming the path
        missing = [c for c in cfg.columns.values() if c not in pool.columns]
        if missing:
            raise BenchError(
                f"pool {cfg.pool['path']}: no column {missing[0]!r}, which training reads (uid, image and caption "
                f"columns, renamed with pool.columns); pool columns: {', '.join(pool.columns)}"
            )
        return
    src = Path(cfg.pool["fashion_mnist"].get("root", "../shared/data/fashion_mnist"))
    if not (cfg.output / "pool" / "built.json").is_file() and not src.is_dir():
        raise BenchError(f"pool.fashion_mnist.root: {src} does not exist")


def _run_dir(cfg: BenchConfig, strategy: str, seed: int) -> Path:
    return cfg.output / "runs" / strategy / f"seed{seed}"


def _train_and_evaluate(cfg: BenchConfig, job: dict, tasks: list, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    run = _run_dir(cfg, job["strategy"], job["seed"])
    run.mkdir(parents=True, exist_ok=True)
    result = train_clip(cfg.scale, job["shards"], run, job["seed"], cfg.workers, cfg.device, threads)
    started = time.perf_counter()
    evaluator = Evaluator(model_reference(cfg.scale, run / "model"), result.checkpoint, cfg.device)
    metrics = {t.name: evaluator.run(t) for t in tasks}
    scores = {t.name: headline(t, metrics[t.name]) for t in tasks}
    out = {
        "strategy": job["strategy"],
        "seed": job["seed"],
        "subset_size": job["subset_size"],
        "samples_seen": result.samples_seen,
        "samples_per_s": result.samples_per_s,
        "train_s": result.seconds,
        "train_cpu_s": result.cpu_s,
        "eval_s": time.perf_counter() - started,
        "metrics": metrics,
        "scores": scores,
        "mean": float(np.mean(list(scores.values()))),
    }
    atomic_write_json(run / "result.json", out)
    return out


def run_bench(cfg: BenchConfig, resume: bool = False, log: Log = print) -> BenchOutcome:
    """Run every (strategy, seed) not finished yet and write the ranked table."""
    from curation.bench import table as tables

    skipped: dict[str, str] = {}
    for task in cfg.tasks:
        try:
            check_task(task)
        except (TaskDataMissing, ValueError) as exc:
            skipped[task.name] = str(exc)
            log(f"task {task.name} skipped: {exc}")
    tasks = [t for t in cfg.tasks if t.name not in skipped]
    if not tasks:
        raise BenchError("no evaluation task can run: " + "; ".join(skipped.values()))
    _check_pool_source(cfg)
    check_models(cfg)
    # only now: a benchmark that cannot start leaves no output behind to refuse the fixed rerun
    _prepare_output(cfg, resume)
    pool = prepare_pool(cfg, log)
    failures: dict[str, str] = {}
    results: list[dict] = []
    pending: list[dict] = []
    # seed-major: every strategy's first seed is trained first, so a partial table already compares them all
    for seed in cfg.seeds:
        for strategy in cfg.strategies:
            done = _run_dir(cfg, strategy.name, seed) / "result.json"
            if done.is_file():
                results.append(json.loads(done.read_text()))
            elif strategy.name not in failures:
                job = _selection_job(cfg, pool, strategy, seed, failures, log)
                if job is not None:
                    pending.append(job)
    cores = os.cpu_count() or 1
    threads = cfg.threads or max(1, cores // cfg.parallel)
    trained: list[str] = []
    with ThreadPoolExecutor(cfg.parallel) as workers:
        futures = {workers.submit(_train_and_evaluate, cfg, job, tasks, threads): job for job in pending}
        for future, job in futures.items():
            label = f"{job['strategy']}/seed{job['seed']}"
            try:
                result = future.result()
            except Exception as exc:  # one run's failure (any error) is counted; the benchmark goes on
                _fail(failures, job["strategy"], f"seed {job['seed']}: {_reason(exc)}")
                log(f"{label} failed: {_reason(exc)}")
                continue
            results.append(result)
            trained.append(label)
            log(
                f"{label}: mean {100 * result['mean']:.2f} (samples seen {result['samples_seen']:,}, {result['train_s']:.0f} s)"
            )
            tables.write(tables.rank(results, failures, [t.name for t in cfg.tasks]), skipped, cfg.output)
    ranked = tables.rank(results, failures, [t.name for t in cfg.tasks])
    paths = tables.write(ranked, skipped, cfg.output)
    return BenchOutcome(ranked, paths, skipped, trained)


def _reason(exc: Exception) -> str:
    """What a failed run or selection says under the table: one line, with the error's type where the message
    alone may not name the problem (a KeyError's message is just the key)."""
    if isinstance(exc, TrainingError):  # its message ends with the trainer's log tail
        return str(exc)
    text = " ".join(str(exc).split())
    return (
        text if isinstance(exc, StrategyError | OSError | RuntimeError) else f"{type(exc).__name__}: {text}"
    )


def _fail(failures: dict[str, str], strategy: str, reason: str) -> None:
    """Record a failure of `strategy`, after any earlier one (of another seed)."""
    failures[strategy] = f"{failures[strategy]}; {reason}" if strategy in failures else reason


def _selection_job(
    cfg: BenchConfig, pool: Pool, strategy: Strategy, seed: int, failures: dict[str, str], log: Log
) -> dict | None:
    try:
        ids = select(strategy, pool, seed)
        key = hashlib.sha256(ids.tobytes()).hexdigest()[:16]
        shards = _exported(pool, ids, cfg.output / "subsets" / key, cfg, cfg.columns)
    except Exception as exc:  # e.g. a `python` strategy's own error: that strategy's failure only
        _fail(failures, strategy.name, _reason(exc))
        log(f"strategy {strategy.name} skipped: {_reason(exc)}")
        return None
    log(f"{strategy.name}/seed{seed}: {len(ids):,} of {pool.num_rows:,} rows -> subsets/{key}")
    return {"strategy": strategy.name, "seed": seed, "subset_size": int(len(ids)), "shards": shards}
