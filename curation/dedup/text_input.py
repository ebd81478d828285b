"""Columns as the dedup stages need them: text that may arrive as bytes, group keys as 64-bit salts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.dedup.hashing import span_hashes


def text_column(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(large_string array, mask of values that are not valid UTF-8); invalid values become null.

    Bytes columns are checked by the cast; string columns are checked too, because parquet readers do not check
    UTF-8 and a file written elsewhere can hold invalid bytes in one.
    """
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.type not in (pa.string(), pa.large_string(), pa.binary(), pa.large_binary()):
        raise TypeError(f"text column must be string or binary, got {arr.type}")
    try:
        text = arr.cast(pa.large_string())
        if not (pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type)):  # the cast checked bytes
            text.validate(full=True)
        return text, np.zeros(len(arr), dtype=bool)
    except pa.ArrowInvalid:
        values, bad = [], np.zeros(len(arr), dtype=bool)
        for i, raw in enumerate(arr.cast(pa.large_binary()).to_pylist()):
            try:
                values.append(raw.decode("utf-8") if raw is not None else None)
            except UnicodeDecodeError:
                values.append(None)
                bad[i] = True
        return pa.array(values, pa.large_string()), bad


def group_salts(column: pa.ChunkedArray | pa.Array, pattern: str | None = None) -> np.ndarray:
    """A uint64 per row identifying its group: the value, or the first match of regex `pattern` in it.

    Null values (and values where `pattern` does not match) form one group, that of the empty string.
    """
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    strings = arr.cast(pa.large_string())
    if pattern is not None:
        strings = pc.struct_field(pc.extract_regex(strings, f"(?P<group>{pattern})"), "group")
    offsets, data = string_buffers(strings.fill_null("").cast(pa.large_string()))
    return span_hashes(data, offsets[:-1], offsets[1:]) ^ np.uint64(0x5A17)


def string_buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, bytes) of a large_string array without copying: value i is `bytes[offsets[i]:offsets[i + 1]]`."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int64)[
        strings.offset : strings.offset + len(strings) + 1
    ]
    data = strings.buffers()[2]
    raw = (
        np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if data is not None
        else np.zeros(0, np.uint8)
    )
    return offsets - offsets[0], raw


def fixed_list(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """(rows, width) uint64 view of a fixed-size-list<uint64> column."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, width), dtype=np.uint64)
    return arr.flatten().to_numpy(zero_copy_only=False).astype(np.uint64, copy=False).reshape(-1, width)
