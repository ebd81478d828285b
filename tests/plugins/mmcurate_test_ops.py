"""Ops for tests, loaded the way users load theirs: through a recipe's `plugins:` list.

This folder is on the PYTHONPATH of the test session's Ray workers (tests/conftest.py), as a user's package would
be installed on their cluster.
"""

from __future__ import annotations

import dataclasses
import os

import pyarrow as pa

from curation.ops.base import Mapper, register, set_column


@register("record_builds")
@dataclasses.dataclass
class RecordBuilds(Mapper):
    """Writes `built_by` = `<pid>:<instance id>` of the op instance that mapped each row."""

    provides = ("built_by",)

    def setup(self) -> None:
        self.tag = f"{os.getpid()}:{id(self)}"

    def map(self, batch: pa.Table) -> pa.Table:
        return set_column(batch, "built_by", pa.array([self.tag] * batch.num_rows, pa.string()))
