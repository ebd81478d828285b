"""Random access, epoch by epoch, to the rows of a curation output (parquet shards + `_manifest.json`).

Rows are addressed by a source-stream index k: epoch k // rows, then a seeded permutation of row groups
and of rows within each row group. The address of a row never depends on rank or worker count.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.shards import MANIFEST_NAME, read_manifest
from curation.rows import SchemaMismatch, check_schema


def check_any_schema(schema: pa.Schema, contracts: str, where: str) -> None:
    """`check_schema` against one contract, or the first that fits of `a|b|c` (a stage that mixes contracts)."""
    problems = []
    for contract in contracts.split("|"):
        try:
            return check_schema(schema, contract, where=where)
        except SchemaMismatch as exc:
            problems.append(str(exc))
    raise SchemaMismatch(problems[0] if len(problems) == 1 else " / ".join(problems))


class ShardSource:
    """One curated dataset directory, validated against a schema contract."""

    def __init__(
        self, path: str | Path, schema: str, seed: int, shuffle: bool, extra_columns: tuple[str, ...] = ()
    ):
        self.path = Path(path)
        if not (self.path / MANIFEST_NAME).is_file():
            run = self.path.parent  # a common slip: the run's data/ folder instead of the run
            hint = f" (its parent {run} is one: give that)" if (run / MANIFEST_NAME).is_file() else ""
            raise FileNotFoundError(
                f"{self.path}: no {MANIFEST_NAME}; expected a curation output directory{hint}"
            )
        manifest = read_manifest(self.path)
        self.units: list[tuple[Path, int, int]] = []  # (file, row group, rows)
        for shard in manifest.get("shards", []):
            file = self.path / shard["path"]
            if not file.is_file():
                raise FileNotFoundError(f"{file}: listed in {self.path / MANIFEST_NAME} but missing")
            meta = pq.ParquetFile(file)
            check_any_schema(meta.schema_arrow, schema, str(file))
            missing = [c for c in extra_columns if meta.schema_arrow.get_field_index(c) < 0]
            if missing:
                raise ValueError(f"{file}: missing column(s) {missing} required by this config")
            for rg in range(meta.num_row_groups):
                rows = meta.metadata.row_group(rg).num_rows
                if rows:
                    self.units.append((file, rg, rows))
        self.rows = sum(u[2] for u in self.units)
        if not self.rows:
            raise ValueError(f"{self.path}: source has no rows (all shards empty)")
        self.seed = seed
        self.shuffle = shuffle
        self._epoch = -1
        self._order: list[int] = []
        self._starts: list[int] = []
        self._cached: tuple[int, pa.Table, np.ndarray] | None = None

    def _plan_epoch(self, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.units)) if self.shuffle else np.arange(len(self.units))
        self._order = [int(i) for i in order]
        self._starts = list(np.cumsum([0] + [self.units[i][2] for i in self._order])[:-1])
        self._epoch = epoch

    def _unit(self, unit: int) -> tuple[pa.Table, np.ndarray]:
        if self._cached is None or self._cached[0] != unit:
            file, rg, rows = self.units[unit]
            table = pq.ParquetFile(file).read_row_group(rg)
            rng = np.random.default_rng([self.seed, self._epoch, unit])
            perm = rng.permutation(rows) if self.shuffle else np.arange(rows)
            self._cached = (unit, table, perm)
        return self._cached[1], self._cached[2]

    def row(self, k: int) -> dict:
        """Row number k of this source's endless stream (epoch k // rows)."""
        epoch, pos = divmod(k, self.rows)
        if epoch != self._epoch:
            self._plan_epoch(epoch)
            self._cached = None
        slot = bisect.bisect_right(self._starts, pos) - 1
        table, perm = self._unit(self._order[slot])
        return table.slice(int(perm[pos - self._starts[slot]]), 1).to_pylist()[0]


class Mixture:
    """Deterministic weighted interleaving of sources: global item g -> (source, index in that source).

    Choices are drawn in fixed-size chunks from a generator seeded by (seed, chunk), so the mapping is a
    pure function of g; lookups must be made in increasing g (the walker keeps running counts).
    """

    CHUNK = 4096

    def __init__(self, weights: list[float], seed: int) -> None:
        w = np.asarray(weights, dtype=np.float64)
        self.p = w / w.sum()
        self.seed = seed
        self._chunk = -1
        self._choices = np.zeros(0, dtype=np.int64)
        self._before = np.zeros(len(w), dtype=np.int64)  # picks per source before the current chunk
        self._prefix = np.zeros((0, len(w)), dtype=np.int64)

    def _load(self, chunk: int) -> None:
        if chunk < self._chunk:
            raise ValueError("Mixture lookups must be made in increasing order")
        while self._chunk < chunk:
            if self._chunk >= 0:
                self._before += np.bincount(self._choices, minlength=len(self.p))
            self._chunk += 1
            rng = np.random.default_rng([self.seed, 7919, self._chunk])
            self._choices = (
                rng.choice(len(self.p), size=self.CHUNK, p=self.p)
                if len(self.p) > 1
                else (np.zeros(self.CHUNK, dtype=np.int64))
            )
        onehot = np.eye(len(self.p), dtype=np.int64)[self._choices]
        self._prefix = np.cumsum(onehot, axis=0) - onehot  # picks before each position within the chunk

    def locate(self, g: int) -> tuple[int, int]:
        chunk, offset = divmod(g, self.CHUNK)
        if chunk != self._chunk:
            self._load(chunk)
        source = int(self._choices[offset])
        return source, int(self._before[source] + self._prefix[offset, source])
