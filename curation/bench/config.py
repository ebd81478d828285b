"""BENCH.yaml: a pool (built or given, scored once), strategies, a scale, seeds and evaluation tasks."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from curation.bench.clipbench import datacomp_tasks
from curation.bench.evaluate import TASK_KEYS, Task
from curation.bench.scales import SCALES, Scale, get_scale
from curation.bench.strategies import KINDS, Strategy, StrategyError, check_params

if TYPE_CHECKING:
    from curation.recipe import Step

TOP_KEYS = (
    "name", "output", "scale", "scale_overrides", "seeds", "pool", "strategies", "tasks", "device", "workers",
    "parallel", "threads", "samples_per_shard",
)  # fmt: skip
POOL_KEYS = ("path", "fashion_mnist", "teacher", "score", "columns")
FASHION_KEYS = ("root", "teacher_rows", "pool_rows", "noise", "seed")


DIGEST_IGNORES = ("output", "parallel", "threads")  # what a resumed benchmark may change
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


class BenchError(ValueError):
    """A benchmark file that cannot run: names the key and what is wrong."""


@dataclass(frozen=True)
class BenchConfig:
    name: str
    output: Path
    scale: Scale
    seeds: tuple[int, ...]
    pool: dict[str, Any]
    strategies: tuple[Strategy, ...]
    tasks: tuple[Task, ...]
    device: str = "cpu"
    workers: int = 0
    parallel: int = 1
    threads: int | None = None  # torch threads per training; default: cores / parallel
    samples_per_shard: int = 10_000
    raw: dict = field(default_factory=dict, compare=False)

    @property
    def digest(self) -> str:
        """Everything that decides the results (not the output folder or how many run at once)."""
        keyed = {k: v for k, v in self.raw.items() if k not in DIGEST_IGNORES}
        keyed["scale"] = self.scale.name
        keyed["scale_overrides"] = {k: v for k, v in vars(self.scale).items() if k != "name"}
        return hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:16]

    @property
    def columns(self) -> dict[str, str]:
        return {"uid": "uid", "image": "image", "caption": "caption", **self.pool.get("columns", {})}


def _keys(section: Any, valid: tuple[str, ...], where: str) -> dict:
    if not isinstance(section, dict):
        raise BenchError(f"{where}: expected a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - set(valid))
    if unknown:
        raise BenchError(f"{where}.{unknown[0]}: unknown key; valid: {', '.join(valid)}")
    return section


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _count(raw: dict, key: str, default: int | None, low: int) -> int | None:
    value = raw.get(key, default)
    if value is None and default is None:
        return None
    if not _is_int(value) or value < low:
        raise BenchError(f"{key}: expected an integer >= {low}, got {value!r}")
    return value


def _score_steps(steps: list) -> list[Step]:
    """The `pool.score` steps parsed as a recipe's (a BenchError when they do not parse)."""
    from curation.recipe import RecipeError, parse_recipe

    try:
        return parse_recipe({"input": {"paths": ["pool"]}, "steps": steps}, "pool.score").steps
    except RecipeError as exc:
        raise BenchError(f"pool.score: {exc}") from None


def _check_score_steps(steps: list) -> None:
    """The scoring steps parse as recipe steps, and every filter or stage among them only tags (one that drops
    rows would shrink the pool every strategy, `none` included, selects from)."""
    for i, step in enumerate(_score_steps(steps)):
        fields = (
            {f.name for f in dataclasses.fields(step.cls)} if dataclasses.is_dataclass(step.cls) else set()
        )
        if "tag_only" in fields and step.params.get("tag_only") is not True:
            raise BenchError(
                f"pool.score[{i}].{step.name}: set tag_only: true; scoring keeps every row of the pool, "
                "strategies do the dropping"
            )


def _named(items: Any, where: str) -> list[tuple[str, str, dict]]:
    if not isinstance(items, list) or not items:
        raise BenchError(f"{where}: must be a non-empty list of {{name: ..., kind: ...}} items")
    out, seen = [], set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "name" not in item or "kind" not in item:
            raise BenchError(f"{where}[{i}]: each item needs a name and a kind")
        name = str(item["name"])
        if name in seen:
            raise BenchError(f"{where}[{i}]: duplicate name {name!r}")
        seen.add(name)
        out.append((name, str(item["kind"]), {k: v for k, v in item.items() if k not in ("name", "kind")}))
    return out


def parse_bench(raw: Any, source: str, base: Path, scale_name: str | None = None) -> BenchConfig:
    """Validate a benchmark mapping; relative paths are relative to `base` (the file's folder's parent repo)."""
    raw = _keys(raw, TOP_KEYS, source)
    pool = _keys(raw.get("pool"), POOL_KEYS, "pool")
    if ("path" in pool) == ("fashion_mnist" in pool):
        raise BenchError(
            "pool: give exactly one of path (a parquet pool or curate run output) or fashion_mnist"
        )
    if "fashion_mnist" in pool:
        _keys(pool["fashion_mnist"], FASHION_KEYS, "pool.fashion_mnist")
    if "teacher" in pool and "fashion_mnist" not in pool:
        raise BenchError(
            "pool.teacher: a teacher is trained only on a built pool's clean split (fashion_mnist)"
        )
    columns = pool.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise BenchError(
            f"pool.columns: a mapping of uid, image, caption to pool column names, got {columns!r}"
        )
    _keys(columns, ("uid", "image", "caption"), "pool.columns")
    score = pool.get("score")
    if score is not None and (not isinstance(score, list) or not score):
        raise BenchError("pool.score: a non-empty list of recipe steps (tag_only filters write the scores)")
    if score:
        _check_score_steps(score)
    scale = scale_name or raw.get("scale", "tiny")
    if scale not in SCALES:
        raise BenchError(f"scale: unknown scale {scale!r}; valid: {', '.join(SCALES)}")
    try:
        scale_obj = get_scale(
            scale, raw.get("scale_overrides") if scale == raw.get("scale", "tiny") else None
        )
    except ValueError as exc:
        raise BenchError(f"scale_overrides: {exc}") from None
    if "teacher" in pool:
        try:
            get_scale("tiny", pool["teacher"])
        except ValueError as exc:
            raise BenchError(f"pool.teacher: {exc}") from None
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) for s in seeds):
        raise BenchError("seeds: a non-empty list of integers")
    if len(set(seeds)) < len(seeds):
        raise BenchError(f"seeds: {next(s for s in seeds if seeds.count(s) > 1)} is listed twice")
    strategies = []
    for i, (name, kind, params) in enumerate(_named(raw.get("strategies"), "strategies")):
        if kind not in KINDS:
            raise BenchError(f"strategies[{i}] ({name}): unknown kind {kind!r}; valid: {', '.join(KINDS)}")
        if not SAFE_NAME.fullmatch(name):  # it names the folder runs/<name>/ of the output
            raise BenchError(
                f"strategies[{i}]: name {name!r} must be letters, digits, '.', '_' or '-', not starting with '.'"
            )
        strategy = Strategy(name, kind, params)
        try:
            check_params(strategy)
        except StrategyError as exc:
            raise BenchError(f"strategies[{i}] ({name}): {exc}") from None
        strategies.append(strategy)
    tasks = []
    for i, (name, kind, params) in enumerate(_named(raw.get("tasks"), "tasks")):
        if kind == "datacomp":  # DataComp's 38-task suite, read through clip_benchmark from params["root"]
            if not params.get("root"):
                raise BenchError(
                    f"tasks[{i}] ({name}): kind datacomp needs root (DataComp's evaluation data)"
                )
            tasks += [Task(n, k, p) for n, k, p in datacomp_tasks(str(base / params["root"]))]
        elif kind not in TASK_KEYS:
            valid = ", ".join([*TASK_KEYS, "datacomp"])
            raise BenchError(f"tasks[{i}] ({name}): unknown kind {kind!r}; valid: {valid}")
        else:
            unknown = sorted(set(params) - set(TASK_KEYS[kind]))
            if unknown:
                valid = ", ".join(TASK_KEYS[kind])
                raise BenchError(f"tasks[{i}] ({name}).{unknown[0]}: unknown key; valid: {valid}")
            tasks.append(Task(name, kind, params))
    names = [t.name for t in tasks]
    if len(set(names)) < len(names):
        raise BenchError(f"tasks: duplicate name {next(n for n in names if names.count(n) > 1)!r}")
    output = raw.get("output", f"out/bench/{Path(source).stem}")
    if not isinstance(output, str) or not output:
        raise BenchError(f"output: expected a folder path, got {output!r}")
    return BenchConfig(
        name=str(raw.get("name", Path(source).stem)),
        output=base / output,
        scale=scale_obj,
        seeds=tuple(seeds),
        pool=pool,
        strategies=tuple(strategies),
        tasks=tuple(tasks),
        device=str(raw.get("device", "cpu")),
        workers=_count(raw, "workers", 0, 0),
        parallel=_count(raw, "parallel", 1, 1),
        threads=_count(raw, "threads", None, 1),
        samples_per_shard=_count(raw, "samples_per_shard", 10_000, 1),
        raw=raw,
    )


def check_models(cfg: BenchConfig) -> None:
    """The CLIP models the benchmark trains (its scale's, and a built pool's teacher) have a tokenizer that fits
    their text tower, as `curate run` checks its steps' models (`check_open_clip_config`), and the models of the
    `pool.score` steps that do not use the teacher load (their `preflight`); a BenchError before anything is
    built or trained, not open_clip_train's log tail or a failure once the teacher has trained."""
    import tempfile

    from curation.bench.trainer import model_reference
    from curation.models import check_open_clip_config

    if cfg.pool.get("score"):
        _check_score_models(cfg.pool["score"])
    scales = {f"scale {cfg.scale.name}": cfg.scale}
    if "fashion_mnist" in cfg.pool:
        scales["pool.teacher"] = get_scale("tiny", cfg.pool.get("teacher"))
    with tempfile.TemporaryDirectory() as tmp:
        for where, scale in scales.items():
            ref = model_reference(scale, Path(tmp) / "model")  # a model config: written as training writes it
            try:
                check_open_clip_config(ref, None)
            except (OSError, ValueError) as exc:
                reason = str(exc)
                if isinstance(scale.model, dict):  # not the temporary folder's name: the config's place
                    reason = reason.removeprefix(f"open_clip model {ref}: ")
                raise BenchError(f"{where}: the CLIP model it trains: {reason}") from None


def _check_score_models(steps: list) -> None:
    """`curate run`'s model preflight for each `pool.score` step whose parameters do not name `{teacher}` (that
    one exists only once the teacher has trained)."""
    for i, step in enumerate(_score_steps(steps)):
        if "{teacher}" in json.dumps(step.params):
            continue
        try:
            step.build().preflight()
        except (OSError, ValueError) as exc:
            raise BenchError(f"pool.score[{i}].{step.name}: cannot load its model: {exc}") from None


def load_bench(path: str | Path, scale: str | None = None) -> BenchConfig:
    """Read BENCH.yaml with the safe loader; relative paths in it resolve against the current directory."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"benchmark file {str(path)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise BenchError(f"{path}: invalid YAML: {exc}") from None
    return parse_bench(raw, str(path), Path.cwd(), scale)
