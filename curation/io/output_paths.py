"""Where a command may write: checked before any work, so a mistyped path is a clear error and never costs (or
mixes into) finished work."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path


class OutputPathError(ValueError):
    """An output path that cannot be used as asked (a file in the way, or a folder holding other work)."""


def _file_above(path: Path) -> Path | None:
    """The nearest existing folder above `path` if it is not a folder (then nothing can be created below it)."""
    for parent in path.absolute().parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_folder_path(path: str | Path) -> None:
    """Raise unless `path` is a folder or can be created as one."""
    path = Path(path)
    blocker = _file_above(path)
    if blocker is not None:
        raise OutputPathError(f"{path}: {blocker} is a file, not a folder")
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path} is a file; the output is a folder: choose a folder path")


def check_file_path(path: str | Path) -> None:
    """Raise unless `path` can be written as a file."""
    path = Path(path)
    blocker = _file_above(path)
    if blocker is not None:
        raise OutputPathError(f"{path}: {blocker} is a file, not a folder")
    if path.is_dir():
        raise OutputPathError(f"{path} is a folder; the output is a file: choose a file path")


def check_target_folder(path: str | Path, overwrite: bool, foreign: Callable[[Path], list[str]]) -> bool:
    """Raise unless the folder `path` can take a new output: absent or empty, or, with `overwrite`, holding only an
    earlier output (`foreign(path)` lists what it holds besides). Returns whether there is an earlier output."""
    path = Path(path)
    check_folder_path(path)
    if not path.is_dir() or not any(path.iterdir()):
        return False
    if not overwrite:
        raise OutputPathError(
            f"{path} is not empty: pass --overwrite to replace the earlier export in it, or choose another folder"
        )
    others = foreign(path)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise OutputPathError(
            f"{path} holds files that are not an earlier export ({shown}); --overwrite replaces only an "
            "export: choose another folder"
        )
    return True


def remove_entries(folder: Path, names: Iterable[str]) -> None:
    """Delete the files and folders `names` of `folder` where present (a link is removed, not followed)."""
    for name in names:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
