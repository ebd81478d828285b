"""YAML recipe -> validated Recipe. Errors name the YAML location of the bad key and list valid choices."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import hashlib
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import yaml

from curation.bounded_yaml import load_yaml
from curation.io.readers import FORMATS, reader_columns
from curation.io.units import resolved_paths
from curation.ops import REGISTRY, Op, Stage, load_builtin_ops
from curation.ops.base import Bounds
from curation.recipe_settings import setting_problems

TOP_KEYS = ("name", "description", "input", "output", "steps", "seed", "plugins", "execution")
INPUT_KEYS = ("format", "paths", "unit_bytes", "batch_rows", "limit")
OUTPUT_KEYS = ("path", "shard_rows", "rejects")
EXECUTION_KEYS = ("max_workers",)


class RecipeError(ValueError):
    """A recipe problem, located by its YAML path (e.g. `steps[2].language_id.min_scor`)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


@dataclass(frozen=True)
class Step:
    """One op of the recipe: its registry name, a unique step name for stats, its parameters and its validated op
    class. A Step is what travels to the workers (pickled with its class): they build the op from it, with no
    registry lookup and no module list."""

    op: str
    name: str
    params: dict[str, Any]
    cls: type[Op]

    @property
    def is_stage(self) -> bool:
        return issubclass(self.cls, Stage)

    def build(self) -> Op:
        return self.cls(**self.params)


@dataclass(frozen=True)
class Recipe:
    name: str
    input_paths: list[str]
    input_format: str = "auto"
    unit_bytes: int = 64 << 20
    batch_rows: int = 512
    limit: int | None = None
    output_path: str = "out"
    shard_rows: int = 100_000
    rejects: bool = False
    seed: int = 0
    max_workers: int | None = None
    plugins: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    raw: dict = field(default_factory=dict, compare=False)

    def digest(self, files: list[str]) -> str:
        """Hash of everything that decides the output: the body (`input.limit` included; `as_run` puts the command
        line's `--limit` in) but for the output path and the input patterns, and in their place `files`, the
        input files the patterns matched, resolved (`resolved_paths`): two spellings of one input, a relative and
        an absolute path or two globs that match the same files, give one digest."""
        keyed = {k: v for k, v in self.raw.items() if k not in ("input", "output")}
        keyed["input"] = {k: v for k, v in self.raw.get("input", {}).items() if k != "paths"}
        keyed["output"] = {k: v for k, v in self.raw.get("output", {}).items() if k != "path"}
        keyed["input_files"] = resolved_paths(files)
        return hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:16]


def as_run(
    recipe: Recipe, inputs: list[str] | None = None, output: str | None = None, limit: int | None = None
) -> Recipe:
    """`recipe` as a run's `--input`, `--output` and `--limit` override it: in its fields and in its body (`raw`),
    so that the manifest describes what ran (and the digest covers the limit)."""
    raw = copy.deepcopy(recipe.raw)
    paths = list(inputs or recipe.input_paths)
    limit = recipe.limit if limit is None else limit
    raw.setdefault("input", {})["paths"] = paths
    if limit is not None:
        raw["input"]["limit"] = limit
    output = output or recipe.output_path
    raw.setdefault("output", {})["path"] = output
    return dataclasses.replace(recipe, input_paths=paths, limit=limit, output_path=output, raw=raw)


def _unknown(where: str, key: str, valid: list[str] | tuple[str, ...]) -> RecipeError:
    return RecipeError(
        f"{where}.{key}" if where else key,
        f"unknown key {key!r}{_hint(key, list(valid))}; valid: {', '.join(valid)}",
    )


def _check_keys(section: dict, valid: tuple[str, ...], where: str) -> None:
    if not isinstance(section, dict):
        raise RecipeError(where, f"must be a mapping, got {type(section).__name__}")
    for key in section:
        if key not in valid:
            raise _unknown(where, str(key), valid)


def _type_name(hint: Any) -> str:  # noqa: ANN401
    if hint is type(None):
        return "null"
    return (
        hint.__name__ if isinstance(hint, type) and not get_args(hint) else str(hint).replace("typing.", "")
    )


def _got(value: Any) -> str:  # noqa: ANN401
    return "null" if value is None else f"{type(value).__name__} {value!r}"


def _check_value(value: Any, hint: Any, where: str, bounds: Bounds | None) -> None:  # noqa: ANN401
    """Check `value` against the type `hint` (unions, lists, dicts and their elements) and the numeric `bounds`
    (which apply to a list's elements and a dict's values); a RecipeError names the element that fails."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return
    if origin in (Union, UnionType):
        if value is None and type(None) in args:
            return
        fits = [a for a in args if a is not type(None) and _fits(value, a)]
        if not fits:
            raise RecipeError(where, f"expected {_type_name(hint)}, got {_got(value)}")
        _check_value(value, fits[0], where, bounds)
        return
    if not _fits(value, hint):
        raise RecipeError(where, f"expected {_type_name(hint)}, got {_got(value)}")
    if origin is list and args:
        for i, item in enumerate(value):
            _check_value(item, args[0], f"{where}[{i}]", bounds)
    elif origin is dict and len(args) == 2:
        for key, item in value.items():
            _check_value(key, args[0], f"{where}[{key!r}] (key)", None)
            _check_value(item, args[1], f"{where}[{key!r}]", bounds)
    elif bounds is not None and isinstance(value, int | float):
        low, high = bounds
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"within [{low}, {high}]" if high is not None else f">= {low}" if low is not None else ""
            raise RecipeError(where, f"must be {span}, got {value!r}")


def _fits(value: Any, hint: Any) -> bool:  # noqa: ANN401
    """Whether `value` has the outer type of `hint` (YAML gives ints where floats are expected; bool is no int)."""
    if hint is Any:
        return True
    base = get_origin(hint) or hint
    if base in (Union, UnionType):
        return any(_fits(value, a) for a in get_args(hint))
    if base is type(None):
        return value is None
    if isinstance(value, bool):
        return base is bool
    if base is float:
        return isinstance(value, int | float)
    return isinstance(base, type) and isinstance(value, base)


def _param_hints(cls: type[Op]) -> dict[str, Any]:
    """The op's parameter annotations as types; where one cannot be resolved (a plugin annotating with a name
    imported only for type checkers), every parameter of that op is left unchecked (Any)."""
    try:
        return get_type_hints(cls)
    except (NameError, TypeError, AttributeError):
        return {f.name: Any for f in dataclasses.fields(cls)}


def _parse_steps(raw_steps: Any) -> list[Step]:
    if not isinstance(raw_steps, list) or not raw_steps:
        raise RecipeError("steps", "must be a non-empty list of {op_name: {params}} items")
    steps: list[Step] = []
    seen: dict[str, int] = {}
    valid_ops = sorted(REGISTRY)
    for i, item in enumerate(raw_steps):
        where = f"steps[{i}]"
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            raise RecipeError(where, "each step is a mapping with exactly one op name")
        ((op_name, params),) = item.items()
        if op_name not in REGISTRY:
            raise RecipeError(
                f"{where}.{op_name}",
                f"unknown op {op_name!r}{_hint(op_name, valid_ops)}; valid ops: {', '.join(valid_ops)}",
            )
        params = params or {}
        if not isinstance(params, dict):
            raise RecipeError(f"{where}.{op_name}", "parameters must be a mapping")
        cls = REGISTRY[op_name]
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
        hints = _param_hints(cls)
        for key, value in params.items():
            if key not in fields:
                raise _unknown(f"{where}.{op_name}", str(key), sorted(fields))
            _check_value(value, hints[key], f"{where}.{op_name}.{key}", cls.ranges.get(key))
        missing = [
            n
            for n, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [n for n in missing if n not in params]
        if missing:
            raise RecipeError(f"{where}.{op_name}", f"missing required parameter(s): {', '.join(missing)}")
        if params.get("tag_only") and issubclass(cls, Stage) and cls.tag_fields is None:
            raise RecipeError(
                f"{where}.{op_name}.tag_only",
                f"{op_name} has no tag mode (it cannot keep every row and mark its decision); remove tag_only",
            )
        try:
            cls(**params).validate()
        except ValueError as exc:
            raise RecipeError(f"{where}.{op_name}", str(exc)) from None
        except Exception as exc:  # a bug of the op's check, not the user's: one line, not a traceback
            raise RecipeError(
                f"{where}.{op_name}", f"its parameters could not be checked ({type(exc).__name__}: {exc})"
            ) from None
        seen[op_name] = seen.get(op_name, 0) + 1
        name = op_name if seen[op_name] == 1 else f"{op_name}#{seen[op_name]}"
        steps.append(Step(op=op_name, name=name, params=params, cls=cls))
    return steps


def _hint(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def apply_override(raw: dict, assignment: str) -> None:
    """Apply `a.b[2].c=value` (or `a.b.2.c=value`); the value is parsed as YAML."""
    if "=" not in assignment:
        raise RecipeError(assignment, "an override is PATH=VALUE, e.g. steps[2].language_id.min_score=0.5")
    path, value_text = assignment.split("=", 1)
    try:
        value = load_yaml(value_text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or exc
        raise RecipeError(f"--set {assignment!r}", f"the value is not valid YAML: {problem}") from None
    keys = [k for k in path.replace("[", ".").replace("]", "").split(".") if k]
    node: Any = raw
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise RecipeError(path, f"{key!r} is not an index of a list of {len(node)}")
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
                if node is None:
                    node = {}
        else:
            raise RecipeError(path, f"cannot descend into {type(node).__name__}")


def _load_plugins(plugins: Any) -> list[str]:
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise RecipeError("plugins", "must be a list of importable module names")
    for i, module in enumerate(plugins):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise RecipeError(f"plugins[{i}]", f"cannot import {module!r}: {exc}") from None
    return plugins


def parse_recipe(raw: Any, source: str = "<recipe>") -> Recipe:
    """Validate a recipe mapping and build a Recipe."""
    load_builtin_ops()
    if not isinstance(raw, dict):
        raise RecipeError("", f"{source}: a recipe is a YAML mapping")
    _check_keys(raw, TOP_KEYS, "")
    plugins = _load_plugins(raw.get("plugins", []))
    inp = raw.get("input")
    if inp is None:
        raise RecipeError("input", "missing (input: {paths: [...]})")
    _check_keys(inp, INPUT_KEYS, "input")
    paths = inp.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
        raise RecipeError("input.paths", "must be a non-empty list of paths or globs")
    fmt = inp.get("format", "auto")
    if fmt not in FORMATS:
        raise RecipeError("input.format", f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    out = raw.get("output", {}) or {}
    _check_keys(out, OUTPUT_KEYS, "output")
    execution = raw.get("execution", {}) or {}
    _check_keys(execution, EXECUTION_KEYS, "execution")
    if problems := setting_problems(raw):
        raise RecipeError(*problems[0])
    steps = _parse_steps(raw.get("steps"))
    return Recipe(
        name=str(raw.get("name", Path(source).stem)),
        input_paths=paths,
        input_format=fmt,
        unit_bytes=inp.get("unit_bytes", 64 << 20),
        batch_rows=inp.get("batch_rows", 512),
        limit=inp.get("limit"),
        output_path=str(out.get("path", f"out/{raw.get('name', Path(source).stem)}")),
        shard_rows=out.get("shard_rows", 100_000),
        rejects=bool(out.get("rejects", False)),
        seed=raw.get("seed", 0),
        max_workers=execution.get("max_workers"),
        plugins=plugins,
        steps=steps,
        raw=raw,
    )


def check_columns(recipe: Recipe, files: list[str]) -> None:
    """Fail, naming the step and the column, where a step reads a column that neither the reader of `files` nor
    an earlier step provides (the ops' `requires` / `provides`). Unchecked when the input's columns are unknown."""
    available = reader_columns(recipe.input_format, files)
    if available is None:
        return
    have = set(available)
    for index, step in enumerate(recipe.steps):
        op = step.build()
        missing = op.missing_columns(have)
        if missing:
            raise RecipeError(
                f"steps[{index}].{step.op}",
                f"needs column(s) {', '.join(map(repr, missing))}, which neither the input nor an earlier step "
                f"provides; available there: {', '.join(sorted(have))}",
            )
        have.update(op.provided_columns())


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a YAML recipe with the safe loader (no duplicate keys, bounded aliases), apply `PATH=VALUE` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError("", f"recipe file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not a UTF-8 text file" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        raise RecipeError("", f"recipe file {str(path)!r} cannot be read: {reason}") from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(where, f"{path}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    for assignment in overrides or []:
        apply_override(raw, assignment)
    return parse_recipe(raw, str(path))
