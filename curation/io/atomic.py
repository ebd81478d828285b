"""Atomic files: written under a temporary name beside their final path and renamed onto it when complete, so a
reader (or a resumed run) never sees half a file. A worker whose driver is gone exits instead of writing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from curation.lifeline import driver_gone, exit_if_driver_gone


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A process-private temporary path beside `path` (its folder created) to write to; it becomes `path` when
    the block ends and is removed if the block raises."""
    path = Path(path)
    exit_if_driver_gone()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if driver_gone():  # its driver died while it wrote: leave neither the file nor its temporary behind
        tmp.unlink(missing_ok=True)
        os._exit(1)
    os.replace(tmp, path)
