"""Interleaved documents: speed of the WARC -> document op and of `mmc4_assign` (matrix, and CLIP on CPU).

    .venv/bin/python benchmarks/interleaved.py [--quick] [--clip ViT-B-32] [--clip-docs 16]

1. `html_interleave` against `html_extract` (Resiliparse main text, the text recipes' extractor) on the same HTML
   responses in one process (one core), pages/s each and the ratio; on the 1,307-page WARC (`--quick`: the demo).
2. `mmc4_assign` from the authors' matrices on the 107 real MMC4 documents (docs/s).
3. `interleaved_clip_similarity` + `mmc4_assign` with an open_clip architecture built with random weights (no
   download) on CPU: documents from the MMC4 texts with the bundled JPEGs as images; docs/s, images/s, sentences/s.
Timings are medians of `--repeats` runs, wall and CPU seconds of the process (per core: items per CPU-second); the
machine may be shared (its load is printed with the results), which inflates wall times but hardly CPU times.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyarrow as pa
from common import REPO, SHARED_DATA, machine, median, pick_warc

from curation.interleave.assign import Mmc4Assign
from curation.interleave.extract import HtmlInterleave
from curation.io.interleaved import to_table
from curation.io.mmc4 import read_mmc4
from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit
from curation.io.warc import read_warc
from curation.ops.html import HtmlExtract

MMC4 = SHARED_DATA / "mmc4" / "docs_no_face_shard_151_v3.partial.jsonl.gz"


def _timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of this process (all its threads) over `repeats` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return median(walls), median(cpus)


def extraction(warc: Path, repeats: int) -> dict:
    rows = pa.concat_tables(read_warc(Unit(0, str(warc), "warc"), ReaderStats(), 4096))
    html = rows.filter(pa.compute.match_substring(pa.compute.utf8_lower(rows.column("content_type")), "html"))
    ours, peer = HtmlInterleave(), HtmlExtract(engine="resiliparse")
    docs = ours.evaluate(html)
    (ours_s, ours_cpu), (peer_s, peer_cpu) = (
        _timed(lambda: ours.evaluate(html), repeats),
        _timed(lambda: peer.evaluate(html), repeats),
    )
    n = html.num_rows
    return {
        "html_interleave_pages_per_cpu_s": round(n / ours_cpu, 1),
        "html_extract_resiliparse_pages_per_cpu_s": round(n / peer_cpu, 1),
        "cpu_ratio_interleave_over_extract": round(peer_cpu / ours_cpu, 2),
        "warc": warc.name,
        "html_pages": n,
        "documents": int(pa.compute.sum(pa.compute.is_null(docs.column("_drop"))).as_py()),
        "images_found": sum(len(i or []) for i in docs.column("images").to_pylist()),
        "html_interleave_pages_per_s": round(n / ours_s, 1),
        "html_extract_resiliparse_pages_per_s": round(n / peer_s, 1),
        "ratio_interleave_over_extract": round(peer_s / ours_s, 2),
    }


def assignment(repeats: int) -> dict:
    table = pa.concat_tables(read_mmc4(Unit(0, str(MMC4), "mmc4"), ReaderStats(), 1024))
    op = Mmc4Assign()
    _, cpu = _timed(lambda: op.map(table), repeats)
    return {"documents": table.num_rows, "mmc4_assign_matrix_docs_per_cpu_s": round(table.num_rows / cpu, 1)}


def clip_assignment(arch: str, n_docs: int, repeats: int) -> dict:
    import open_clip
    import torch

    from curation.interleave.similarity import InterleavedClipSimilarity

    images = [p.read_bytes() for p in sorted((REPO / "data" / "images").glob("*.jpg"))]
    source = pa.concat_tables(read_mmc4(Unit(0, str(MMC4), "mmc4"), ReaderStats(), 1024)).to_pylist()[:n_docs]
    docs = [
        {"doc_id": d["doc_id"], "texts": d["texts"], "images": [{"url": i["url"], "bytes": images[k % len(images)]}
                                                                 for k, i in enumerate(d["images"])]}
        for d in source
    ]  # fmt: skip
    table = to_table(docs)
    sim = InterleavedClipSimilarity(model=arch, pretrained=None, batch_size=64)
    torch.manual_seed(0)  # random weights: `pretrained=None` builds the architecture only
    sim._device = "cpu"
    sim._net, _, sim._preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
    sim._net.eval()
    sim._tokenizer = open_clip.get_tokenizer(arch)
    assign = Mmc4Assign()
    seconds, cpu = _timed(lambda: assign.map(sim.map(table)), repeats)
    n_img = sum(len(d["images"]) for d in docs)
    n_txt = sum(len(d["texts"]) for d in docs)
    return {
        "arch": arch,
        "torch_threads": torch.get_num_threads(),
        "documents": len(docs),
        "images": n_img,
        "sentences": n_txt,
        "docs_per_cpu_s": round(len(docs) / cpu, 3),
        "images_per_cpu_s": round(n_img / cpu, 2),
        "docs_per_s": round(len(docs) / seconds, 2),
        "images_per_s": round(n_img / seconds, 1),
        "sentences_per_s": round(n_txt / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="the bundled 152-page demo WARC")
    parser.add_argument("--warc")
    parser.add_argument("--clip", default="ViT-B-32", help="open_clip architecture (random weights)")
    parser.add_argument("--clip-docs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {
        "machine": machine(),
        "extraction": extraction(pick_warc(args.quick, args.warc), args.repeats),
        "assignment": assignment(args.repeats),
        "clip": clip_assignment(args.clip, args.clip_docs, max(1, args.repeats - 2)),
    }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
