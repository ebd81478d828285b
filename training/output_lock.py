"""A run's `output_dir` is locked while its `train launch` (and the DeepSpeed launcher it starts) lives, so that
a second launch can tell a run that failed from one still running there (`flock` on the folder itself)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from training.config import ConfigError


def _locked(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    return False


def in_use(out: Path) -> bool:
    """Whether a live launch holds `out` (an existing folder)."""
    fd = os.open(out, os.O_RDONLY)
    try:
        return _locked(fd)
    finally:
        os.close(fd)


def hold(out: Path) -> int:
    """Create `out` and lock it; the returned descriptor holds the lock until it (and every copy of it handed to a
    child process) is closed."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    if _locked(fd):
        os.close(fd)
        raise ConfigError(
            f"output_dir {out}: another train launch is running there; wait for it or choose another"
        )
    return fd
