"""Duplicate images in interleaved documents (issue 13): within a document and too frequent across the corpus,
by pHash and by URL; documents stay consistent and every document and image is accounted for."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from curation.dedup.components import EDGE_SCHEMA
from curation.interleave.assign import assign
from curation.interleave.document import split_images
from curation.interleave.filters import RATIO_CUTOFFS
from curation.interleave.image_dedup import InterleavedImageDedup
from curation.io.interleaved import to_table
from curation.recipe import load_recipe, parse_recipe
from curation.rows import ORDER
from curation.runner.run import run_recipe
from curation.stagekit.context import StageContext

DEDUP = "interleaved_image_dedup"
DOC_RULE = {"min_images": 1, "max_images": None, "min_words": None, "max_words": None, "lang": None}
DOC_RULE |= dict.fromkeys(RATIO_CUTOFFS)  # the pages only hold images: the images rule alone


def _photo(seed: int, side: int = 256, quality: int = 90) -> bytes:
    """A smooth random picture (distinct seeds give pHashes far apart); `side` / `quality` re-encode it."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = (rng.random((8, 8, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(small).resize((side, side), Image.BICUBIC).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _corpus(path: Path) -> dict[str, int]:
    """OBELICS-style parquet (parallel texts / images) with known duplicates; returns the expected removals."""
    logo, photo, shared = _photo(1, 200), _photo(2), _photo(3)
    near = _photo(2, side=300, quality=60)  # the same picture resized and re-compressed: a near duplicate
    docs = []
    for k in range(
        12
    ):  # a logo on 12 pages (> 10 occurrences: removed everywhere); 3 pages hold nothing else
        images = [{"url": "http://site.org/logo.png", "bytes": logo}]
        if k >= 3:
            images.append({"url": f"http://site.org/p{k}.jpg", "bytes": _photo(100 + k)})
        docs.append(images)
    docs.append(  # the same photo twice (other URL), then its near copy: two removed within the document
        [{"url": "http://a.org/1.jpg", "bytes": photo}, {"url": "http://a.org/2.jpg", "bytes": photo},
         {"url": "http://a.org/3.jpg", "bytes": near}]
    )  # fmt: skip
    docs.append([{"url": "http://b.org/x.jpg", "bytes": shared}])  # on two pages only: kept on both
    docs.append(
        [{"url": "http://c.org/x.jpg", "bytes": shared}, {"url": "http://c.org/bad.jpg", "bytes": b"junk"}]
    )
    docs.append(
        ["http://d.org/u.jpg", "https://www.d.org/u.jpg#top"]
    )  # no bytes: one URL after normalisation
    texts, images = [], []
    for n, doc in enumerate(docs):
        nodes_t, nodes_i = [f"Page {n} opening words."], [None]
        for img in doc:
            nodes_t += [None, f"Words after image on page {n}."]
            nodes_i += [img, None]
        texts.append(nodes_t)
        images.append(nodes_i)
    image_type = pa.struct([("url", pa.string()), ("bytes", pa.binary())])
    nodes = [
        [i if i is None or isinstance(i, dict) else {"url": i, "bytes": None} for i in d] for d in images
    ]
    table = pa.table({"texts": texts, "images": pa.array(nodes, pa.list_(image_type))})
    for k, (lo, hi) in enumerate(
        [(0, 5), (5, 13), (13, len(docs))]
    ):  # three input files: clusters cross them
        pq.write_table(table.slice(lo, hi - lo), path / f"docs{k}.parquet")
    return {"frequent": 12, "in_document": 3}


def _accounting(out: Path) -> tuple[int, int, Counter]:
    held, dropped = {"data": 0, "rejects": 0}, Counter()
    for folder in held:
        if not (out / folder).exists():
            continue
        for row in pads.dataset(out / folder).to_table(columns=["images", "dropped_images"]).to_pylist():
            held[folder] += len(row["images"] or [])
            dropped.update(d["reason"] for d in row["dropped_images"] or [])
    return held["data"], held["rejects"], dropped


def _recipe(path: Path, dedup: dict) -> dict:
    return {
        "name": "dedup",
        "input": {"format": "obelics", "paths": [str(path / "docs*.parquet")]},
        "output": {"rejects": True},
        "steps": [{DEDUP: dedup}, {"interleaved_doc_filter": DOC_RULE}],
    }


@pytest.mark.slow
def test_constructed_duplicates_are_removed_and_accounted(ray_local, tmp_path):
    expected = _corpus(tmp_path)
    result = run_recipe(parse_recipe(_recipe(tmp_path, {})), output=str(tmp_path / "out"))
    stats = result.stats
    assert stats["totals"]["identity_holds"]
    steps = {s["step"]: s for s in stats["steps"]}
    assert steps["interleaved_doc_filter"]["dropped"] == {"interleaved_doc_filter:too_few_images": 3}
    kept, in_rejects, dropped = _accounting(tmp_path / "out")
    assert dropped == {f"{DEDUP}:{rule}": n for rule, n in expected.items()}
    images_read = 12 + 9 + 3 + 1 + 2 + 2
    assert kept + in_rejects + sum(dropped.values()) == images_read and in_rejects == 0
    (found,) = [p for p in (tmp_path / "out").rglob("summary.json") if DEDUP in str(p)]
    summary = json.loads(found.read_text())
    assert summary["removed"] == expected and summary["documents_emptied"] == 3
    assert summary["images"]["undecodable"] == 1 and summary["images"]["no_bytes"] == 2
    docs = {d["texts"][0]: d for d in pads.dataset(tmp_path / "out" / "data").to_table().to_pylist()}
    page = docs["Page 12 opening words."]  # the first copy stays, before the text it stood before
    assert [(i["url"], i["text_index"]) for i in page["images"]] == [("http://a.org/1.jpg", 1)]
    assert len(page["texts"]) == 4
    assert [len(docs[f"Page {n} opening words."]["images"]) for n in (13, 14, 15)] == [1, 2, 1]
    assert all("logo" not in i["url"] for d in docs.values() for i in d["images"])

    # the stage alone over the same rows in one file with one worker, and resumed after losing its last
    # sub-phase: the same images removed as in the run over three files
    rows = pads.dataset(next((tmp_path / "out" / "_work").glob("p00_*")) / "data").to_table().sort_by(ORDER)
    pq.write_table(rows, tmp_path / "all.parquet")
    runs = [_stage([str(tmp_path / "all.parquet")], tmp_path / "w", 1)]
    shutil.rmtree(tmp_path / "w" / "labels")
    runs.append(_stage([str(tmp_path / "all.parquet")], tmp_path / "w", 1))
    assert runs[0] == runs[1]
    assert Counter(r for _, _, gone in runs[0] for r in gone) == Counter(dropped)


def _stage(files: list[str], work: Path, workers: int) -> list[tuple]:
    import ray

    stage = InterleavedImageDedup()
    ctx = StageContext(work_dir=work, seed=0, num_workers=workers, resume=True, input_files=tuple(files))
    out = pa.concat_tables(ray.get(stage.run(ray.data.read_parquet(files), ctx).to_arrow_refs()))
    return [
        (o, [i["url"] for i in imgs], [d["reason"] for d in gone])
        for o, imgs, gone in sorted(
            zip(*(out.column(c).to_pylist() for c in (ORDER, "images", "dropped_images")), strict=True)
        )
    ]


def test_removed_images_take_their_matrix_rows():
    batch = to_table(
        [{"doc_id": "a", "texts": ["s0", "s1"], "images": [{"url": "u0"}, {"url": "u1"}, {"url": "u2"}],
          "similarity_matrix": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]}]
    )  # fmt: skip
    out = split_images(batch, [[True, False, True]], [[None, "in_document", None]], DEDUP).to_pylist()[0]
    assert [i["url"] for i in out["images"]] == ["u0", "u2"]
    assert np.allclose(out["similarity_matrix"], [[0.1, 0.2], [0.5, 0.6]])
    assert out["dropped_images"] == [{"url": "u1", "reason": f"{DEDUP}:in_document"}]


def test_cluster_sizes_count_each_member_once():
    """The components can give the same (node, root) edge from several files: a member counts once."""
    from curation.interleave.image_dedup import _cluster_sizes, removals

    forest = pa.table({"src": [5, 5, 7, 9], "dst": [1, 1, 1, 2]}, schema=EDGE_SCHEMA)
    members = pl.from_arrow(_cluster_sizes(forest, 0)).sort("node")
    assert members.rows() == [(1, 1, 3), (2, 2, 2), (5, 1, 3), (7, 1, 3), (9, 2, 2)]
    labelled = pl.DataFrame(
        {ORDER: [0, 0, 0, 1], "idx": [0, 1, 2, 0], "root": [1, 2, 1, 2], "size": [3, 2, 3, 2]}
    )
    assert removals(labelled, 2, True).rows() == [(0, 0, "frequent"), (0, 2, "frequent")]
    assert removals(labelled, None, True).rows() == [(0, 2, "in_document")]


def test_tag_only_lists_rules_and_bad_parameters_are_refused(tmp_path):
    from curation.interleave.image_dedup import REMOVED, _apply

    pq.write_table(
        pa.table({ORDER: [7], "idx": [1], "rule": ["frequent"]}, schema=REMOVED), tmp_path / "r.parquet"
    )
    batch = to_table([{"doc_id": "a", "texts": ["t"], "images": [{"url": "u0"}, {"url": "u1"}]}])
    batch = batch.append_column(ORDER, pa.array([7], pa.int64()))
    files = [(str(tmp_path / "r.parquet"), 7, 7)]
    assert _apply(batch, files, DEDUP, True).column("image_duplicates").to_pylist() == [[None, "frequent"]]
    out = _apply(batch, files, DEDUP, False).to_pylist()[0]
    assert [i["url"] for i in out["images"]] == ["u0"]
    for bad in ({"by": ["md5"]}, {"by": []}, {"radius": 40}, {"max_occurrences": 0}):
        with pytest.raises(ValueError):
            InterleavedImageDedup(**bad).validate()


@pytest.mark.slow
def test_real_mmc4_documents_with_injected_duplicates(ray_local, shared, tmp_path):
    """`pipelines/mmc4.yaml` on the 107 real MMC4 documents (417 images, URLs only) with a copy of one document's
    first image (and its matrix row) appended to it, and an ad image on 11 documents: exactly those 12 go, and
    every document's assignment is the one of the unmodified document."""
    with gzip.open(shared("mmc4", "docs_no_face_shard_151_v3.partial.jsonl.gz"), "rt") as fh:
        originals = [json.loads(line) for line in fh]
    docs = json.loads(json.dumps(originals))
    docs[0]["image_info"].append(dict(docs[0]["image_info"][0]))
    docs[0]["similarity_matrix"].append(list(docs[0]["similarity_matrix"][0]))
    for doc in docs[1:12]:
        doc["image_info"].append({"raw_url": "http://ads.example.com/banner.png", "matched_text_index": 0})
        doc["similarity_matrix"].append([1.0] * len(doc["text_list"]))  # the ad would win its sentence
    with gzip.open(tmp_path / "docs.jsonl.gz", "wt") as fh:
        fh.write("".join(json.dumps(doc) + "\n" for doc in docs))
    result = run_recipe(
        load_recipe("pipelines/mmc4.yaml"),
        output=str(tmp_path / "out"),
        inputs=[str(tmp_path / "docs.jsonl.gz")],
    )
    assert result.stats["totals"]["identity_holds"]
    kept, in_rejects, dropped = _accounting(tmp_path / "out")
    assert dropped == {f"{DEDUP}:in_document": 1, f"{DEDUP}:frequent": 11} and (kept, in_rejects) == (417, 0)
    out = {d["doc_id"]: d for d in pads.dataset(tmp_path / "out" / "data").to_table().to_pylist()}
    assert len(out) == 107
    for line, doc in enumerate(originals, start=1):
        (got,) = [d for key, d in out.items() if key.endswith(f":{line}")]
        expected = assign(np.asarray(doc["similarity_matrix"], np.float64)).tolist()
        assert [(i["url"], i["text_index"]) for i in got["images"]] == list(
            zip([i["raw_url"] for i in doc["image_info"]], expected, strict=True)
        )
