"""Checks made in the driver before Ray starts: the steps' models are loadable, the inputs' column types fit
their reader, the output folder is usable and a resumed run continues the same input."""

from __future__ import annotations

from pathlib import Path

from curation.io.parquet import img2dataset_schema_problems, parquet_schema
from curation.io.units import InputError, resolved_paths, sniff_format
from curation.recipe import Recipe, RecipeError


def check_steps(recipe: Recipe) -> None:
    """Every step's `preflight` (its models and weights are there); the first failure is a RecipeError."""
    for index, step in enumerate(recipe.steps):
        try:
            step.build().preflight()
        except (OSError, ValueError) as exc:
            raise RecipeError(f"steps[{index}].{step.op}", f"cannot load its model: {exc}") from None


def check_input_schemas(files: list[str], fmt: str) -> None:
    """img2dataset parquet whose columns have the wrong types is an InputError naming file and column."""
    if fmt != "img2dataset":
        return
    for path in files:
        if sniff_format(path) != "parquet":
            continue
        try:
            problems = img2dataset_schema_problems(parquet_schema(path))
        except (OSError, ValueError):
            continue  # an unreadable footer: the reader counts the file as an error
        if problems:
            raise InputError(f"{path}: not img2dataset parquet: {'; '.join(problems)}")


def check_output(out: Path) -> None:
    """The output must be a folder (or not exist yet): a file or a broken link on the way is an InputError."""
    for path in (out, *out.parents):
        if path.exists() and not path.is_dir():
            raise InputError(f"output {out}: {path} is a file, not a folder")
        if path.is_symlink() and not path.exists():
            raise InputError(f"output {out}: {path} is a symbolic link to nothing")


def check_resume(plan: dict, files: list[str], limit: int | None) -> None:
    """A resumed run must read the same input files (however spelled: `resolved_paths`) with the same `--limit`
    as the run it continues."""
    if plan.get("inputs") is not None and resolved_paths(plan["inputs"]) != resolved_paths(files):
        raise InputError(
            f"resume needs the same input: the run read {len(plan['inputs'])} file(s) "
            f"({', '.join(plan['inputs'][:3])}{', ...' if len(plan['inputs']) > 3 else ''}), now {len(files)} "
            f"({', '.join(files[:3])}{', ...' if len(files) > 3 else ''})"
        )
    if plan.get("limit") != limit:
        raise InputError(f"resume needs the same --limit: the run had {plan.get('limit')}, now {limit}")
