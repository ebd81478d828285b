"""Work-unit planning: split the input files into units, once, persisted so that a resumed run uses the same plan."""

from __future__ import annotations

import json
import os
from pathlib import Path

import ray

from curation.io.readers import file_units
from curation.io.shards import atomic_write_json

UNITS = "units.json"
LOCAL_PLAN_BYTES = 256 << 20  # up to this much input the driver plans alone (no Ray task to start)


@ray.remote(num_cpus=1)
def _plan_file(path: str, fmt: str, unit_bytes: int) -> list:
    return file_units(path, fmt, unit_bytes)


def saved_units(work: Path) -> list[dict] | None:
    """The plan of an earlier run of this output, or None."""
    saved = work / UNITS
    return json.loads(saved.read_text()) if saved.exists() else None


def plan_units(files: list[str], fmt: str, unit_bytes: int, work: Path) -> list[dict]:
    """Split `files` into work units and persist them; a saved plan is reused as it is.

    Small inputs are planned in the driver, larger ones by one Ray task per file; both give the same plan.
    """
    saved = saved_units(work)
    if saved is not None:
        return saved
    if sum(os.path.getsize(f) for f in files) <= LOCAL_PLAN_BYTES:
        pieces = [file_units(f, fmt, unit_bytes) for f in files]
    else:
        pieces = ray.get([_plan_file.remote(f, fmt, unit_bytes) for f in files])
    units = []
    for path, kind, start, end, group in (p for file_pieces in pieces for p in file_pieces):
        index = len(units)
        units.append(
            {
                "index": index,
                "key": f"u{index:08d}",
                "path": path,
                "format": kind,
                "start": start,
                "end": end,
                "row_group": group,
            }
        )
    atomic_write_json(work / UNITS, units)
    return units
