"""Per-entry counts over the whole pool, computed per input file (persisted partials), then summed.

A task holds one dense uint64 array per entry list and one batch, so memory is bounded by the entry count, not
the pool. Counts are written in MetaCLIP's format: `entry_count.npy` (uint64, one value per entry of
`metadata.json`) for one list, `entry_counts.npz` (one such array per language) for per-language lists.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import ray

from curation.io.atomic import atomic_path
from curation.io.parquet import iter_tables
from curation.io.shards import atomic_write_json
from curation.stagekit import shuffle

BATCH_ROWS = 16384
Counts = dict[str, np.ndarray]  # list name ("" for a single list) -> uint64 count per entry
# a batch -> {(counter, list name): entry ids to count once each}
CountFn = Callable[[pa.Table], dict[tuple[str, str], np.ndarray]]


def counts_path(folder: Path, names: list[str] | set[str]) -> Path:
    """Where counts of these lists are written: `entry_count.npy` for a single list, else `entry_counts.npz`."""
    return folder / ("entry_count.npy" if set(names) == {""} else "entry_counts.npz")


def save_counts(counts: Counts, path: Path) -> Path:
    """Write counts atomically in MetaCLIP's layout (npy for the single list "", npz keyed by language)."""
    if path.suffix == ".npy":
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, counts[""].astype(np.uint64))
        return path
    return savez_atomic(path, {name: c.astype(np.uint64) for name, c in counts.items()})


def savez_atomic(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """`np.savez` to a temporary name, then renamed (a reader never sees half a file)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return path


def load_counts(path: str | Path, sizes: dict[str, int]) -> Counts:
    """Read an `entry_count.npy` / `entry_counts.npz`, checking it against the entry lists' sizes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"entry counts {path} do not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise ValueError(f"entry counts {path}: not a .npy / .npz file ({exc})") from None
    counts = {"": loaded} if isinstance(loaded, np.ndarray) else {k: loaded[k] for k in loaded.files}
    for name, size in sizes.items():
        found = counts.get(name)
        label = f"list {name!r}" if name else "the metadata"
        if found is None:
            raise ValueError(f"entry counts {path} have no array for {label} (arrays: {sorted(counts)})")
        if found.ndim != 1 or len(found) != size or not np.issubdtype(found.dtype, np.integer):
            raise ValueError(
                f"entry counts {path}: {label} has {size} entries but the counts are {found.dtype} {found.shape}"
            )
        if (found < 0).any():
            raise ValueError(f"entry counts {path}: negative counts for {label}")
    return {name: counts[name].astype(np.uint64) for name in sizes}


def _bincount(ids: np.ndarray, size: int, where: str) -> np.ndarray:
    if len(ids) and (ids.min() < 0 or ids.max() >= size):
        bad = int(ids.max() if ids.max() >= size else ids.min())
        raise ValueError(
            f"{where}: entry id {bad} is outside the {size} entries of the metadata: the pool was matched "
            "against another entry list"
        )
    return np.bincount(ids, minlength=size).astype(np.uint64)


@ray.remote(num_cpus=1)
def _count_file(path: str, out: str, fn: CountFn, columns: list[str], sizes: dict[str, int]) -> str:
    if Path(out).exists():  # finished by an earlier attempt
        return out
    acc: dict[str, np.ndarray] = {}
    for batch in iter_tables(path, BATCH_ROWS, columns):
        for (counter, name), ids in fn(batch).items():
            key = f"{counter}.{name}"
            part = _bincount(ids, sizes[name], path)
            acc[key] = acc[key] + part if key in acc else part
    savez_atomic(Path(out), acc)
    return out


@ray.remote(num_cpus=1)
def _sum_partials(partials: list[str]) -> dict[str, np.ndarray]:
    total: dict[str, np.ndarray] = {}
    for path in partials:
        with np.load(path) as part:
            for key in part.files:
                total[key] = total[key] + part[key] if key in total else part[key]
    return total


def count_files(
    work_dir: Path, name: str, files: list[str], fn: CountFn, columns: list[str], sizes: dict[str, int]
) -> dict[str, Counts]:
    """Sum `fn`'s entry ids over every row of `files`: {counter: {list name: counts}}.

    One task per file writes `<work_dir>/<name>/f<i>.npz` (kept by a resumed run); the partials are then summed
    in one task into `<name>/total.npz`. The sub-phase is finished when `<name>/_SUCCESS.json` exists.
    """
    folder = work_dir / name
    total_path = folder / "total.npz"
    if shuffle.done(work_dir, name) is None:
        folder.mkdir(parents=True, exist_ok=True)
        outs = [str(folder / f"f{i:05d}.npz") for i in range(len(files))]
        partials = ray.get(
            [_count_file.remote(p, o, fn, columns, sizes) for p, o in zip(files, outs, strict=True)]
        )
        total = ray.get(_sum_partials.remote(partials))
        savez_atomic(total_path, total)
        atomic_write_json(folder / shuffle.SUCCESS, {"partials": len(partials)})
    out: dict[str, Counts] = {}
    with np.load(total_path) as total:
        for key in total.files:
            counter, list_name = key.split(".", 1)
            out.setdefault(counter, {})[list_name] = total[key]
    for counts in out.values():  # a list no row used counts zero everywhere
        for list_name, size in sizes.items():
            counts.setdefault(list_name, np.zeros(size, np.uint64))
    return out
