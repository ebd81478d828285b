"""Key-equality dedup shared by the exact and URL stages: (key, `_order`) rows grouped by key, each later row
pointing at the first row of its key."""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from curation.dedup.components import EDGE_SCHEMA
from curation.rows import ORDER

KEY_SCHEMA = pa.schema([("key", pa.uint64()), (ORDER, pa.int64())])
ROWS_PER_PARTITION = 1_000_000


def first_of_key(part: pa.Table, _index: int = 0) -> pa.Table:
    """(row, first row of its key) for every row that is not the first of its key."""
    df = pl.from_arrow(part).with_columns(first=pl.col(ORDER).min().over("key"))
    later = df.filter(pl.col(ORDER) != pl.col("first")).select(src=pl.col(ORDER), dst=pl.col("first"))
    return later.to_arrow().cast(EDGE_SCHEMA)
