"""Types and ranges of the recipe's settings (everything but the steps), checked before anything runs."""

from __future__ import annotations

from typing import Any

SettingProblem = tuple[str, str]  # (YAML path, message)


def _integer(value: Any, where: str, minimum: int, optional: bool = False) -> SettingProblem | None:  # noqa: ANN401
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        kind = "an integer" + (f" >= {minimum}" if minimum else " >= 0")
        return where, f"must be {kind}{' or null' if optional else ''}, got {value!r}"
    return None


def _of_type(value: Any, where: str, kind: type, name: str, optional: bool = True) -> SettingProblem | None:  # noqa: ANN401
    if (value is None and optional) or (
        isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    ):
        return None
    return where, f"must be {name}, got {type(value).__name__} {value!r}"


def setting_problems(raw: dict) -> list[SettingProblem]:
    """Every problem with the top-level, `input`, `output` and `execution` values (the sections' keys and
    `input.paths` / `input.format` are checked by the recipe parser)."""
    inp = raw.get("input") or {}
    out = raw.get("output") or {}
    execution = raw.get("execution") or {}
    checks = [
        _of_type(raw.get("name"), "name", str, "a string"),
        _of_type(raw.get("description"), "description", str, "a string"),
        _integer(raw.get("seed", 0), "seed", 0),
        _integer(inp.get("unit_bytes", 1), "input.unit_bytes", 1),
        _integer(inp.get("batch_rows", 1), "input.batch_rows", 1),
        _integer(inp.get("limit"), "input.limit", 1, optional=True),
        _of_type(out.get("path"), "output.path", str, "a path (string)"),
        _integer(out.get("shard_rows", 1), "output.shard_rows", 1),
        _of_type(out.get("rejects"), "output.rejects", bool, "true or false"),
        _integer(execution.get("max_workers"), "execution.max_workers", 1, optional=True),
    ]
    return [problem for problem in checks if problem is not None]
