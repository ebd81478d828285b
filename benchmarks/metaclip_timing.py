"""`metaclip_match_timed`: `metaclip_match` that also writes the CPU seconds its `map` spent per row
(`bench_op_cpu`), so a benchmark can sum the op's CPU time inside `curate run` from the output (a `plugins:` module
of benchmarks/metaclip.py; Ray's workers import it through PYTHONPATH)."""

from __future__ import annotations

import dataclasses
import time

import pyarrow as pa

from curation.balance.matching import MetaclipMatch
from curation.ops.base import register
from curation.rows import set_column

CPU_COLUMN = "bench_op_cpu"


@register("metaclip_match_timed")
@dataclasses.dataclass
class TimedMetaclipMatch(MetaclipMatch):
    """`metaclip_match`, plus `bench_op_cpu`: this batch's thread CPU seconds in `map`, spread over its rows."""

    def map(self, batch: pa.Table) -> pa.Table:
        started = time.thread_time()
        out = super().map(batch)
        share = (time.thread_time() - started) / max(1, batch.num_rows)
        return set_column(out, CPU_COLUMN, pa.array([share] * batch.num_rows, pa.float64()))
