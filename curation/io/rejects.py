"""One schema for every file of a run's `rejects/` folder, so the folder loads as one table.

Units and stage partitions write their rejects independently: a file holds the columns its rejected rows had when
their step dropped them (a segment's early steps still carry the raw payload, later ones the extracted text), in
the order they were added, and a column that was null in every row of a batch may have Arrow type null.
`unify_rejects` rewrites, once the phases are done, every file whose schema differs from the union of all of them,
streaming it row group by row group.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.io.atomic import atomic_path
from curation.io.shards import ROW_GROUP_ROWS
from curation.rows import REJECT_REASON


def rejects_schema(schemas: list[pa.Schema]) -> pa.Schema:
    """The union of `schemas` (null-typed columns take the type other files give them), `reject_reason` last."""
    union = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    reason = union.get_field_index(REJECT_REASON)
    if reason >= 0:
        union = union.remove(reason).append(pa.field(REJECT_REASON, pa.string()))
    return union


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns, in its order and types; absent ones are all null."""
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def rewrite(path: Path, schema: pa.Schema) -> None:
    """Rewrite the parquet file `path` with `schema` (`conform`), atomically, one row group at a time (memory: a
    row group, whatever the file's size)."""
    source = pq.ParquetFile(path, pre_buffer=False)
    try:
        with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for group in range(source.num_row_groups):
                writer.write_table(
                    conform(source.read_row_group(group), schema), row_group_size=ROW_GROUP_ROWS
                )
    finally:
        source.close()


def unify_rejects(folder: Path) -> pa.Schema | None:
    """Give every parquet file under `folder` the schema `rejects_schema` of all of them; return it (None when
    `folder` holds no file). Only the footers are read to find it, and only the files whose schema differs are
    rewritten (`rewrite`: a row group at a time)."""
    files = sorted(Path(folder).rglob("*.parquet"))
    if not files:
        return None
    schemas = [pq.read_schema(f) for f in files]
    schema = rejects_schema(schemas)
    for path, current in zip(files, schemas, strict=True):
        if not current.equals(schema, check_metadata=False):
            rewrite(path, schema)
    return schema
