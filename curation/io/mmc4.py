"""MMC4 document JSONL(.gz): `text_list`, `image_info` (`raw_url`, `matched_text_index`, `matched_sim`, ...),
`similarity_matrix` (images x sentences) and `url`, read as interleaved rows.

The authors' `matched_text_index` / `matched_sim` become each image's `text_index` / `similarity`. A line that is
not a document, or whose `matched_text_index` is not a sentence of the document, is a counted error; the matrix
is kept as it is (`mmc4_assign` checks its shape).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator

import pyarrow as pa

from curation.io.interleaved import document, image, to_table
from curation.io.reader_stats import ReaderStats
from curation.io.units import GZIP_MAGIC, Unit


def mmc4_document(obj: object, source: str) -> tuple[dict | None, str | None]:
    """(interleaved row, None) or (None, error reason) for one parsed MMC4 line."""
    if not isinstance(obj, dict):
        return None, "mmc4:not_an_object"
    texts, infos = obj.get("text_list"), obj.get("image_info") or []
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return None, "mmc4:no_text_list"
    if not isinstance(infos, list) or not all(isinstance(i, dict) for i in infos):
        return None, "mmc4:bad_image_info"
    images = []
    for info in infos:
        index = info.get("matched_text_index")
        if index is not None and (not isinstance(index, int) or not 0 <= index < len(texts)):
            return None, "mmc4:text_index_out_of_range"
        images.append(image(info.get("raw_url"), text_index=index, similarity=info.get("matched_sim")))
    matrix = obj.get("similarity_matrix")
    if matrix is not None and not (
        isinstance(matrix, list)
        and all(isinstance(r, list) and all(isinstance(v, int | float) for v in r) for r in matrix)
    ):
        return None, "mmc4:bad_similarity_matrix"
    doc_id = obj.get("doc_id") or obj.get("id") or source
    return document(str(doc_id), obj.get("url"), texts, images, source, similarity_matrix=matrix), None


def read_mmc4(unit: Unit, stats: ReaderStats, batch_rows: int) -> Iterator[pa.Table]:
    """Yield interleaved batches of one MMC4 JSONL(.gz) file; bad lines are counted errors with their reason."""
    name = os.path.basename(unit.path)
    with open(unit.path, "rb") as probe:
        gz = probe.read(2) == GZIP_MAGIC
    rows: list[dict] = []
    with gzip.open(unit.path, "rb") if gz else open(unit.path, "rb") as fh:
        lineno = 0
        while True:
            try:
                line = fh.readline()
            except (OSError, EOFError) as exc:
                stats.error("truncated_stream" if isinstance(exc, EOFError) else "unreadable_stream")
                break
            if not line:
                break
            lineno += 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                stats.error("bad_json", source_offset=lineno)
                continue
            doc, problem = mmc4_document(obj, f"{name}:{lineno}")
            if doc is None:
                stats.error(problem or "mmc4", source_offset=lineno)
                continue
            stats.records += 1
            rows.append(doc)
            if len(rows) >= batch_rows:
                yield to_table(rows)
                rows = []
    if rows:
        yield to_table(rows)
