"""The folder `curate export` writes: filled under a temporary name beside it and renamed into place when the
export is complete, so a failed export leaves nothing behind and an earlier export is replaced only by a finished
one. `_export.json` lists what an export wrote; `--overwrite` replaces only such a folder."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from curation.io.output_paths import OutputPathError, check_target_folder

INDEX_NAME = "_export.json"
_SHARD = re.compile(r"shard-\d{5}\.tar")  # WebDataset shards of an export written before the index existed


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())


def _not_exported(folder: Path) -> list[str]:
    """What `folder` holds that no earlier export wrote."""
    listed = {INDEX_NAME}
    # without a (readable) index, only bare WebDataset shards count as an export's
    with suppress(OSError, ValueError, KeyError, TypeError):
        listed.update(json.loads((folder / INDEX_NAME).read_text())["files"])
    return [f for f in _files(folder) if f not in listed and not _SHARD.fullmatch(f)]


def _make_parents(path: Path) -> list[Path]:
    """Create the missing folders above `path`; returns them, deepest first."""
    missing = [p for p in path.absolute().parents if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir()
    return missing


@contextmanager
def staged_export(target: str | Path, overwrite: bool, fmt: str, run: str | Path) -> Iterator[Path]:
    """Yield an empty folder to write the export of `run` into; it becomes `target` when the block ends.

    `target` must be absent or empty, or (with `overwrite`) an earlier export. If the block raises, the folder and
    any parent folders made for it are removed and `target` is untouched.
    """
    target = Path(target).resolve()  # `.` and `dir/..` have a name to stage beside
    cwd = Path.cwd().resolve()  # renaming it into place would leave the shell in a deleted folder
    if target == cwd or target in cwd.parents:
        raise OutputPathError(f"{target} is the current folder or holds it: run the export from outside it")
    replace = check_target_folder(target, overwrite, _not_exported)
    made = _make_parents(target)
    stage = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)  # a leftover of a killed export of this process id
    stage.mkdir()
    try:
        yield stage
        index = {"format": fmt, "run": str(Path(run).absolute()), "files": _files(stage)}
        (stage / INDEX_NAME).write_text(json.dumps(index, indent=1) + "\n")
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for folder in made:
            with suppress(OSError):
                folder.rmdir()
        raise
    if replace:
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.rename(target, old)
        os.rename(stage, target)
        shutil.rmtree(old)
    else:
        os.replace(stage, target)  # onto an empty folder too
