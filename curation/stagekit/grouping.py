"""Partition counts for the grouping sub-phases of the global stages."""

from __future__ import annotations


def partitions_for(rows: int, rows_per_partition: int = 200_000, minimum: int = 1) -> int:
    """Enough partitions that none holds more than `rows_per_partition` rows (memory per task stays bounded)."""
    return max(minimum, -(-rows // rows_per_partition))
