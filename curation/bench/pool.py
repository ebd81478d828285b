"""A scored pool: parquet shards whose rows are addressed by a global row id (file order, then row order).

Strategies read only the columns they name; the payload (`image`) is read once, when a selected subset is
exported as WebDataset shards for training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.parquet import iter_tables
from curation.io.shards import MANIFEST_NAME
from curation.io.webdataset import write_shards
from curation.runner.output_folder import WORK


@dataclass(frozen=True)
class Pool:
    files: tuple[Path, ...]
    rows: tuple[int, ...]  # rows per file

    @classmethod
    def open(cls, path: str | Path) -> Pool:
        """A finished `curate run` output folder (its `data/`), a folder of parquet files, or one file."""
        path = Path(path)
        if (path / WORK).is_dir() and not (path / MANIFEST_NAME).is_file():  # its data/ holds only part of it
            raise FileNotFoundError(
                f"pool {path}: a curate run that has not finished (no {MANIFEST_NAME}); finish it with "
                "curate run --resume"
            )
        if path.is_file():
            files = [path]
        else:
            folder = path / "data" if (path / "data").is_dir() else path
            files = sorted(folder.glob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"pool {path}: no parquet files")
        return cls(tuple(files), tuple(pq.ParquetFile(f).metadata.num_rows for f in files))

    @property
    def num_rows(self) -> int:
        return sum(self.rows)

    @property
    def columns(self) -> list[str]:
        return list(pq.ParquetFile(self.files[0]).schema_arrow.names)

    def read(self, columns: list[str]) -> pa.Table:
        """Only `columns`, for all rows, in row-id order."""
        missing = [c for c in columns if c not in self.columns]
        if missing:
            raise KeyError(missing[0])
        return pa.concat_tables(pq.read_table(f, columns=columns) for f in self.files)

    def _selected(self, ids: np.ndarray, columns: list[str]) -> Iterator[dict]:
        ids = np.sort(ids)
        start = 0
        for f, n in zip(self.files, self.rows, strict=True):
            local = ids[(ids >= start) & (ids < start + n)] - start
            offset = 0
            for table in iter_tables(str(f), 4096, columns):
                chunk = local[(local >= offset) & (local < offset + table.num_rows)] - offset
                if len(chunk):
                    yield from table.take(pa.array(chunk)).to_pylist()
                offset += table.num_rows
            start += n

    def export(
        self, ids: np.ndarray, target: Path, samples_per_shard: int, image: str, caption: str, uid: str
    ) -> list[Path]:
        """Write the rows `ids` as WebDataset shards (`uid.jpg` + `uid.txt`; the row ids in `row_ids.npy`)."""
        target.mkdir(parents=True, exist_ok=True)
        np.save(target / "row_ids.npy", np.sort(ids))
        samples = (
            {"uid": row[uid], "image": row[image], "caption": row[caption]}
            for row in self._selected(ids, [uid, image, caption])
        )
        return write_shards(samples, target, samples_per_shard)
