"""Selection strategies: each maps the scored columns of a pool to the row ids it keeps (nothing else is read).

Kinds: `none` (every row), `random` (`fraction` or `k`, seeded per run), `threshold` (`column` >= `min` and/or
<= `max`), `top_fraction` (the exact best `fraction` by `column`, ties by row id), `equals` (`column` in
`values`), `dedup` (first row of each `column` value), `steps` (row-local filters of a recipe, e.g. caption
rules, evaluated on the columns they need; rows none of them drops), and `python` (`function:
package.module:name`, called as `name(table, seed, **params) -> row ids`). MetaCLIP balancing is scored once
(`metaclip_balance` with `tag_only` writes `metaclip_keep`) and selected with `equals`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.bench.pool import Pool


class StrategyError(ValueError):
    """A strategy cannot run on this pool (a missing column, an empty selection, bad parameters)."""


@dataclass(frozen=True)
class Strategy:
    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


def _ids(mask: pa.Array | np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask, dtype=bool))


def _none(table: pa.Table, seed: int) -> np.ndarray:
    return np.arange(table.num_rows)


def _random(table: pa.Table, seed: int, fraction: float | None = None, k: int | None = None) -> np.ndarray:
    n = table.num_rows
    if (fraction is None) == (k is None):
        raise StrategyError("random needs exactly one of fraction, k")
    size = int(round(fraction * n)) if fraction is not None else min(int(k), n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def _threshold(table: pa.Table, seed: int, column: str, min: float | None = None, max: float | None = None):  # noqa: A002
    values = table.column(column)
    mask = pc.is_valid(values)
    if min is not None:
        mask = pc.and_(mask, pc.greater_equal(values, min))
    if max is not None:
        mask = pc.and_(mask, pc.less_equal(values, max))
    return _ids(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def _top_fraction(table: pa.Table, seed: int, column: str, fraction: float) -> np.ndarray:
    values = table.column(column).to_numpy(zero_copy_only=False).astype(np.float64)
    values = np.where(np.isnan(values), -np.inf, values)  # unscored rows rank last
    keep = int(round(fraction * len(values)))
    order = np.lexsort((np.arange(len(values)), -values))  # best first, ties by row id
    return np.sort(order[:keep])


def _equals(table: pa.Table, seed: int, column: str, values: list) -> np.ndarray:
    mask = pc.is_in(table.column(column), value_set=pa.array(values))
    return _ids(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def _dedup(table: pa.Table, seed: int, column: str) -> np.ndarray:
    keys = table.column(column).to_pylist()
    seen: set = set()
    keep = []
    for i, key in enumerate(keys):
        if key is None or key not in seen:
            keep.append(i)
            if key is not None:
                seen.add(key)
    return np.array(keep, dtype=np.int64)


def _steps(table: pa.Table, seed: int, steps: list) -> np.ndarray:
    from curation.ops.base import DROP, ERROR
    from curation.recipe import parse_recipe

    recipe = parse_recipe({"input": {"paths": ["pool"]}, "steps": steps}, "strategy steps")
    keep = np.ones(table.num_rows, dtype=bool)
    for step in recipe.steps:
        op = step.build()
        if not hasattr(op, "evaluate"):
            raise StrategyError(f"step {step.name} is not a row-local filter")
        op.setup()
        marked = op.evaluate(table.select(list(op.required_columns())))
        for col in (DROP, ERROR):
            if col in marked.column_names:
                keep &= ~pc.is_valid(marked.column(col)).to_numpy(zero_copy_only=False)
    return _ids(keep)


def _python(table: pa.Table, seed: int, function: str, **params: Any) -> np.ndarray:
    module, _, name = function.partition(":")
    try:
        fn = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise StrategyError(f"function {function!r} cannot be imported: {exc}") from None
    return np.asarray(fn(table, seed, **params), dtype=np.int64)


KINDS: dict[str, Callable[..., np.ndarray]] = {
    "none": _none,
    "random": _random,
    "threshold": _threshold,
    "top_fraction": _top_fraction,
    "equals": _equals,
    "dedup": _dedup,
    "steps": _steps,
    "python": _python,
}


def check_params(strategy: Strategy) -> None:
    """StrategyError for parameters a kind does not take, lacks or cannot use (checked before anything runs;
    a `python` function's own parameters are its business)."""
    p = strategy.params
    if strategy.kind == "python":
        if not isinstance(p.get("function"), str) or ":" not in p["function"]:
            raise StrategyError("kind python needs function: package.module:name")
        return
    try:
        inspect.signature(KINDS[strategy.kind]).bind(None, 0, **p)
    except TypeError as exc:
        raise StrategyError(f"bad parameters for kind {strategy.kind!r}: {exc}") from None
    if strategy.kind == "random" and ("fraction" in p) == ("k" in p):
        raise StrategyError("random needs exactly one of fraction, k")
    fraction = p.get("fraction")
    if fraction is not None and not (_is_number(fraction) and 0 < fraction <= 1):
        raise StrategyError(f"fraction must be a number in (0, 1], got {fraction!r}")
    k = p.get("k")
    if k is not None and not (isinstance(k, int) and not isinstance(k, bool) and k >= 1):
        raise StrategyError(f"k must be an integer >= 1, got {k!r}")
    if strategy.kind == "equals" and not isinstance(p["values"], list):
        raise StrategyError(f"values must be a list, got {p['values']!r}")
    if strategy.kind == "steps":
        from curation.recipe import RecipeError

        try:
            needed_columns(strategy)  # parses the steps
        except RecipeError as exc:
            raise StrategyError(str(exc)) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def needed_columns(strategy: Strategy) -> list[str]:
    """The pool columns a strategy reads (`python` strategies name theirs in `columns`)."""
    p = strategy.params
    if strategy.kind in ("threshold", "top_fraction", "equals", "dedup"):
        return [p["column"]] if "column" in p else []
    if strategy.kind == "python":
        return list(p.get("columns", []))
    if strategy.kind == "steps":
        from curation.recipe import parse_recipe

        recipe = parse_recipe({"input": {"paths": ["pool"]}, "steps": p.get("steps")}, "strategy steps")
        return sorted({c for s in recipe.steps for c in s.build().required_columns()})
    return []


def select(strategy: Strategy, pool: Pool, seed: int) -> np.ndarray:
    """Row ids the strategy keeps (sorted); a clear StrategyError when it cannot run or keeps nothing."""
    if strategy.kind not in KINDS:
        raise StrategyError(f"unknown kind {strategy.kind!r}; valid: {', '.join(KINDS)}")
    check_params(strategy)
    columns = needed_columns(strategy)
    missing = [c for c in columns if c not in pool.columns]
    if missing:
        raise StrategyError(
            f"needs column {missing[0]!r}, which the pool does not have (pool columns: {', '.join(pool.columns)})"
        )
    table = pool.read(columns) if columns else pa.table({"_": pa.nulls(pool.num_rows)})
    params = {k: v for k, v in strategy.params.items() if not (strategy.kind == "python" and k == "columns")}
    try:
        ids = KINDS[strategy.kind](table, seed, **params)
    except (TypeError, ValueError, pa.ArrowException) as exc:  # e.g. a threshold on a text column
        raise StrategyError(f"cannot select with kind {strategy.kind!r}: {exc}") from None
    if len(ids) == 0:
        raise StrategyError(f"selects no rows of the {pool.num_rows}-row pool")
    return np.asarray(ids, dtype=np.int64)
