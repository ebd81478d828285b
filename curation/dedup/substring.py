"""Exact-substring dedup (Lee et al. 2022, "ExactSubstr"; RefinedWeb runs it after MinHash): every span of at
least `min_tokens` consecutive tokens that occurs more than once in the corpus is cut out of every document that
holds it, the first occurrence too.

A span of length >= k occurs twice exactly when its windows of k tokens do, so instead of a suffix array over
the corpus this hashes every window of k tokens (64-bit hash of its bytes), counts each hash over the corpus in a
key shuffle, and cuts the union of the windows whose hash occurs at least twice. Only (hash, `_order`) pairs
are shuffled, never the documents.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import ray.data

from curation.dedup.components import EDGE_SCHEMA
from curation.dedup.hashing import span_hashes
from curation.dedup.marking import Labels, holds_any, sorted_labels
from curation.dedup.text_input import text_column
from curation.dedup.token_spans import Tokenizer, byte_offsets, tokenizer_for, window_spans
from curation.io.shards import atomic_write_json
from curation.ops.base import AT_LEAST_0, DROP, ERROR, NOTE, POSITIVE, Stage, register, set_column
from curation.rows import ORDER, add_marks
from curation.stagekit import shuffle
from curation.stagekit.context import StageContext
from curation.stagekit.grouping import partitions_for
from curation.stagekit.input import dataset_files, leaf_index, order_bounds, require_columns
from curation.text.words import count_words_or_chars

log = logging.getLogger("curation")

WINDOW_SCHEMA = pa.schema([("key", pa.uint64()), (ORDER, pa.int64())])
WINDOWS_PER_PARTITION = 2_000_000
BYTES_PER_TOKEN = 4  # for sizing the shuffle from the input's text bytes
TAG_COLUMN = "substring_dup_chars"  # `tag_only`: characters the cut would remove


def tokenized_windows(
    texts: list[str | None], tokenize: Tokenizer, k: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(character offsets of the token boundaries, hash of every window of `k` tokens) of each text; hashes of
    equal byte strings are equal. One span-hash call for all the texts."""
    bounds, raws, starts, ends, sizes, offset = [], [], [], [], [], 0
    for text in texts:
        chars = tokenize(text) if text else np.zeros(1, dtype=np.int64)
        spans = window_spans(byte_offsets(text, chars), k) if text else None
        bounds.append(chars)
        if spans is None or not len(spans[0]):
            sizes.append(0)
            continue
        raw = text.encode()
        raws.append(raw)
        starts.append(spans[0] + offset)
        ends.append(spans[1] + offset)
        sizes.append(len(spans[0]))
        offset += len(raw)
    if not raws:
        return [(chars, np.zeros(0, dtype=np.uint64)) for chars in bounds]
    buf = np.frombuffer(b"".join(raws), dtype=np.uint8)
    hashes = np.split(span_hashes(buf, np.concatenate(starts), np.concatenate(ends)), np.cumsum(sizes)[:-1])
    return list(zip(bounds, hashes, strict=True))


def _windows(batch: pa.Table, column: str, tokenize: Tokenizer, k: int) -> tuple[pa.Table, dict[str, int]]:
    texts, bad = text_column(batch.column(column))
    hashes = [window for _, window in tokenized_windows(texts.to_pylist(), tokenize, k)]
    orders = batch.column(ORDER).to_numpy()
    sizes = np.fromiter((len(h) for h in hashes), dtype=np.int64, count=len(hashes))
    table = pa.table(
        {
            "key": pa.array(np.concatenate([np.zeros(0, np.uint64), *hashes]), pa.uint64()),
            ORDER: pa.array(np.repeat(orders, sizes), pa.int64()),
        }
    )
    stats = {
        "windows": int(sizes.sum()),
        "short": int(((sizes == 0) & ~bad).sum()),
        "non_utf8_text": int(bad.sum()),
    }
    return table, stats


def repeated_windows(part: pa.Table, _index: int = 0) -> pa.Table:
    """(document, window hash) for every hash that occurs at least twice in the partition, once per document."""
    df = pl.from_arrow(part)
    repeated = df.filter(pl.len().over("key") >= 2).unique().sort([ORDER, "key"])
    return (
        repeated.select(src=pl.col(ORDER), dst=pl.col("key").reinterpret(signed=True))
        .to_arrow()
        .cast(EDGE_SCHEMA)
    )


def _repeated_of(orders: np.ndarray, labels: Labels) -> dict[int, np.ndarray]:
    """The repeated window hashes of each `_order` that has any."""
    keys = np.sort(orders)
    wanted = [path for path, lo, hi in labels if holds_any(keys, lo, hi)]
    if not wanted:
        return {}
    bounds = [("src", ">=", int(keys[0])), ("src", "<=", int(keys[-1]))]  # row groups outside are not read
    found = pl.from_arrow(pa.concat_tables([pq.read_table(p, filters=bounds) for p in wanted]))
    found = found.filter(pl.col("src").is_in(pl.Series(orders)))
    return {
        int(src): dst.to_numpy().view(np.uint64)
        for (src,), dst in ((g, f.get_column("dst")) for g, f in found.group_by(["src"]))
    }


def cut_spans(text: str, chars: np.ndarray, hashes: np.ndarray, k: int, repeated: np.ndarray) -> str:
    """`text` (token boundaries `chars`, window hashes `hashes`) without the tokens of its windows whose hash is
    in `repeated`."""
    hit = np.flatnonzero(np.isin(hashes, repeated))
    if not len(hit):
        return text
    # per token, the repeated windows over it: +1 where each starts, -1 after it ends, summed up
    starts = np.bincount(hit, minlength=len(chars))
    covered = np.cumsum(starts - np.bincount(hit + k, minlength=len(chars)))[:-1] > 0
    edges = np.flatnonzero(np.diff(np.concatenate(([False], covered, [False])).astype(np.int8)))
    pieces, last = [], 0
    for first, stop in zip(edges[::2], edges[1::2], strict=True):  # token runs to cut: [first, stop)
        pieces.append(text[last : chars[first]])
        last = chars[stop]
    pieces.append(text[last:])
    return "".join(pieces)


def _chunked_windows(
    rows: list[int], values: list[str | None], tokenize: Tokenizer, k: int, chunk: int = 256
) -> Iterator[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """(row, its token boundaries and window hashes) for `rows` of `values`, tokenised `chunk` rows at a time (one
    span-hash call per chunk; memory: one chunk's windows)."""
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        yield from zip(part, tokenized_windows([values[i] for i in part], tokenize, k), strict=True)


def _cut_type(kind: pa.DataType) -> pa.DataType:
    """The type of a text column of type `kind` once its spans are cut."""
    return kind if kind in (pa.string(), pa.large_string()) else pa.large_string()


def _cut(
    batch: pa.Table, labels: Labels, column: str, tokenize: Tokenizer, k: int, min_words: int, tag_only: bool
) -> pa.Table:
    texts, bad = text_column(batch.column(column))
    orders = batch.column(ORDER).to_numpy()
    repeated = _repeated_of(orders, labels) if labels else {}
    values = texts.to_pylist()
    cut_chars = np.zeros(len(values), dtype=np.int64)
    drops: list[str | None] = [None] * len(values)
    notes: list[str | None] = [None] * len(values)
    rows = [i for i, order in enumerate(orders.tolist()) if order in repeated and values[i] is not None]
    for i, (chars, hashes) in _chunked_windows(rows, values, tokenize, k):
        kept = cut_spans(values[i], chars, hashes, k, repeated[int(orders[i])])
        cut_chars[i] = len(values[i]) - len(kept)
        if not cut_chars[i] or tag_only:
            continue
        values[i] = kept
        if count_words_or_chars(kept) < min_words:
            drops[i] = "too_short_after_cut"
        else:
            notes[i] = "spans_cut"
    if tag_only:
        batch = set_column(batch, TAG_COLUMN, pa.array(cut_chars, pa.int64()))
    else:
        kind = _cut_type(batch.schema.field(column).type)
        batch = add_marks(
            add_marks(set_column(batch, column, pa.array(values, kind)), DROP, drops), NOTE, notes
        )
    return add_marks(batch, ERROR, np.where(bad, "non_utf8_text", None).tolist()) if bad.any() else batch


def _text_bytes(files: list[str], column: str) -> int:
    """Uncompressed bytes of `column` in `files`, from the parquet footers."""
    total = 0
    for path in files:
        meta = pq.ParquetFile(path).metadata
        col = leaf_index(meta, column)
        total += sum(
            meta.row_group(g).column(col).total_uncompressed_size for g in range(meta.num_row_groups)
        )
    return total


@register("substring_dedup")
@dataclasses.dataclass
class SubstringDedup(Stage):
    """Cut every span of at least `min_tokens` (50) tokens that occurs twice or more in the corpus (ExactSubstr).

    Every occurrence is cut, the first too, as in Lee et al. (2022) and RefinedWeb. Tokens are GPT-2's
    pre-tokens (each one or more GPT-2 tokens; a character of a script written without spaces, such as Chinese,
    is one) unless `tokenizer` names a Hugging Face tokenizer (path or hub name, e.g. `gpt2`). A document left
    with fewer than `min_words` (50) words (there, characters) is dropped (`too_short_after_cut`); a cut one is
    noted `spans_cut`. `tag_only: true` writes `substring_dup_chars` (characters that would be cut) and changes
    no text.
    """

    requires = ("{column}",)
    provides = ("{column}",)
    tag_fields = (pa.field(TAG_COLUMN, pa.int64()),)

    ranges = {"min_tokens": POSITIVE, "min_words": AT_LEAST_0}

    column: str = "text"
    min_tokens: int = 50
    tokenizer: str | None = None
    min_words: int = 50

    def validate(self) -> None:
        if self.min_tokens < 1:
            raise ValueError(f"substring_dedup.min_tokens must be >= 1, got {self.min_tokens}")
        if self.min_words < 0:
            raise ValueError(f"substring_dedup.min_words must be >= 0, got {self.min_words}")

    def preflight(self) -> None:
        if self.tokenizer is None:
            return
        try:
            tokenizer_for(self.tokenizer)("preflight")
        except (ImportError, OSError, ValueError, RuntimeError) as e:  # the hub's errors are among these
            raise OSError(
                f"substring_dedup: tokenizer {self.tokenizer!r} could not be loaded ({type(e).__name__}: {e}). "
                "Without network, point `tokenizer` at a local folder holding tokenizer.json."
            ) from e

    def kept_schema(self, schema: pa.Schema) -> pa.Schema | None:
        """`schema` with the text column as `_cut` writes it, or with `substring_dup_chars` (`tag_only`)."""
        if schema.get_field_index(self.column) < 0:
            return None
        name = TAG_COLUMN if self.tag_only else self.column
        field = pa.field(name, pa.int64() if self.tag_only else _cut_type(schema.field(self.column).type))
        index = schema.get_field_index(name)
        return schema.set(index, field) if index >= 0 else schema.append(field)

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        work: Path = ctx.work_dir
        files = dataset_files(ds, ctx)
        require_columns(files, [ORDER, self.column], self.op_name)
        tokenize = tokenizer_for(self.tokenizer)
        parts = partitions_for(
            _text_bytes(files, self.column) // BYTES_PER_TOKEN, WINDOWS_PER_PARTITION, ctx.num_workers
        )
        map_fn = functools.partial(_windows, column=self.column, tokenize=tokenize, k=self.min_tokens)
        repeated = shuffle.shuffle(
            work, "windows", files, "key", parts, repeated_windows, WINDOW_SCHEMA, map_fn
        )
        summary = {"windows": repeated["map_stats"], "repeated_window_documents": repeated["rows"]}
        atomic_write_json(work / "summary.json", summary)
        log.info("substring_dedup: %s", summary)
        labels = sorted_labels(work, {**repeated, "rounds": 0}, order_bounds(files))
        kwargs = {
            "labels": labels,
            "column": self.column,
            "tokenize": tokenize,
            "k": self.min_tokens,
            "min_words": self.min_words,
            "tag_only": self.tag_only,
        }
        return ds.map_batches(_cut, fn_kwargs=kwargs, batch_format="pyarrow")
