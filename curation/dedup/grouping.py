"""Distributed group-local work: hash-partition a dataset on key columns, then run a function per partition.

Every row with the same key lands in the same partition, so `fn` sees whole groups; memory per worker is
bounded by the partition size, never by the corpus.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa
import ray.data


def partitions_for(rows: int, rows_per_partition: int = 200_000, minimum: int = 1) -> int:
    return max(minimum, -(-rows // rows_per_partition))


def map_groups_local(
    ds: ray.data.Dataset, keys: list[str], fn: Callable[[pa.Table], pa.Table], num_partitions: int
) -> ray.data.Dataset:
    """Shuffle `ds` by hash of `keys` into `num_partitions` blocks and apply `fn` to each whole block."""
    shuffled = ds.repartition(num_partitions, keys=keys, shuffle=True)
    return shuffled.map_batches(fn, batch_format="pyarrow", batch_size=None, zero_copy_batch=True)
