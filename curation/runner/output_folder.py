"""The output folder of a run: checked before Ray starts (refused, resumed or replaced), then prepared. Nothing a
run did not write is ever deleted: `--overwrite` replaces only an earlier run's folder, and never one that holds
the run's own input."""

from __future__ import annotations

import json
import os
from pathlib import Path

from curation.io.output_paths import remove_entries
from curation.io.shards import MANIFEST_NAME
from curation.io.units import InputError
from curation.preflight import check_output, check_resume

WORK = "_work"
PLAN = "_plan.json"


class OutputExists(RuntimeError):
    """The output folder cannot take this run: it holds an earlier run and neither resume nor overwrite was asked
    for, a different recipe's run, or files that no run wrote."""


def is_run_folder(out: Path) -> bool:
    """Whether `out` is an earlier run's output: a run makes `_work/` first thing and writes the manifest last."""
    return (out / WORK).is_dir() or (out / MANIFEST_NAME).is_file()


def _spellings(path: str | Path) -> set[Path]:
    """`path` as given (made absolute) and with every symbolic link resolved."""
    return {Path(os.path.abspath(path)), Path(path).resolve()}


def check_inputs_outside(out: Path, files: list[str]) -> None:
    """An input file inside the output folder is an InputError: `--overwrite` would delete it before it is read."""
    folders = _spellings(out)
    for name in files:
        for path in _spellings(name):
            if any(folder in path.parents for folder in folders):
                raise InputError(
                    f"input {name} lies inside the output folder {out}: choose an output folder outside the input"
                )


def check_output_folder(
    out: Path, digest: str, files: list[str], limit: int | None, resume: bool, overwrite: bool
) -> None:
    """Whether the run may write to `out` as asked (changes nothing): an OutputExists or InputError says why not."""
    if resume and overwrite:
        raise OutputExists(
            "--resume continues the run in the output folder, --overwrite replaces it: pick one"
        )
    check_output(out)
    check_inputs_outside(out, files)
    if not out.exists() or not any(out.iterdir()):
        return
    if not is_run_folder(out):
        raise OutputExists(
            f"output {out} is not empty and holds no curate run (no {MANIFEST_NAME}, no {WORK}/): choose another "
            "--output (--overwrite replaces only an earlier run's output folder)"
        )
    if overwrite:
        return
    if not resume:
        raise OutputExists(
            f"output {out} is not empty: pass --resume to continue it or --overwrite to replace it"
        )
    plan_file = out / WORK / PLAN
    if plan_file.exists():
        plan = json.loads(plan_file.read_text())
        check_resume(plan, files, limit)  # first: it names what changed
        if plan["digest"] != digest:
            raise OutputExists(
                f"{out} was produced by a different recipe (digest {plan['digest']} != {digest}); "
                "resume needs the same recipe and input"
            )


def prepare_output_folder(out: Path, overwrite: bool) -> None:
    """Make `out/_work`, first emptying an earlier run's folder when `overwrite` (checked by `check_output_folder`;
    the folder itself stays, so a symbolic link to it does too)."""
    if overwrite and is_run_folder(out):
        remove_entries(out, [child.name for child in out.iterdir()])
    (out / WORK).mkdir(parents=True, exist_ok=True)
