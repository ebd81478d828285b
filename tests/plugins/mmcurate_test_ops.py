"""Ops for tests, loaded the way users load theirs: through a recipe's `plugins:` list.

This folder is on the PYTHONPATH of the test session's Ray workers (tests/conftest.py), as a user's package would
be installed on their cluster.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from curation.ops.base import DROP, NOTE, Filter, Mapper, Stage, register, set_column

if TYPE_CHECKING:
    import ray.data

    from curation.stagekit.context import StageContext


@register("record_builds")
@dataclasses.dataclass
class RecordBuilds(Mapper):
    """Writes `built_by` = `<pid>:<instance id>` of the op instance that mapped each row."""

    provides = ("built_by",)

    def setup(self) -> None:
        self.tag = f"{os.getpid()}:{id(self)}"

    def map(self, batch: pa.Table) -> pa.Table:
        return set_column(batch, "built_by", pa.array([self.tag] * batch.num_rows, pa.string()))


def _note_odd_drop_multiples(batch: pa.Table, note: str, every: int) -> pa.Table:
    """`_note` = `note` on rows whose integer `id` is odd, `_drop` = `multiple` where `id` divides by `every`."""
    ids = np.array([int(i) for i in batch.column("id").to_pylist()], dtype=np.int64)
    notes = pa.array(np.where(ids % 2 == 1, note, None), pa.string())
    drops = pa.array(np.where(ids % every == 0, "multiple", None), pa.string())
    return set_column(set_column(batch, NOTE, notes), DROP, drops)


@register("note_odd_rows")
@dataclasses.dataclass
class NoteOddRows(Filter):
    """Notes `odd` on rows of odd integer `id`, drops those whose `id` divides by `every` (a noted row may be
    dropped too)."""

    every: int = 3

    def evaluate(self, batch: pa.Table) -> pa.Table:
        return _note_odd_drop_multiples(batch, "odd", self.every)


@register("note_odd_rows_stage")
@dataclasses.dataclass
class NoteOddRowsStage(Stage):
    """`note_odd_rows` as a Stage (dataset-level), with the note `odd_in_stage`."""

    every: int = 5

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        return ds.map_batches(
            _note_odd_drop_multiples,
            fn_kwargs={"note": "odd_in_stage", "every": self.every},
            batch_format="pyarrow",
        )


@register("needs_model_file")
@dataclasses.dataclass
class NeedsModelFile(Mapper):
    """Loads its "model" in `setup`: FileNotFoundError on a worker where `model` does not exist (no preflight, as
    a model that only the workers' machines can see); rows pass unchanged."""

    model: str = ""

    def setup(self) -> None:
        if not os.path.exists(self.model):
            raise FileNotFoundError(f"no model at {self.model}")

    def map(self, batch: pa.Table) -> pa.Table:
        return batch


@register("needs_model_file_in_actor")
@dataclasses.dataclass
class NeedsModelFileInActor(NeedsModelFile):
    """`needs_model_file` as a GPU-capable op: its segment runs in an actor pool."""

    uses_gpu = True
