"""MMC4 assignment (against scipy and the authors' own assignment on 107 real documents) and the MMC4 reader."""

from __future__ import annotations

import gzip
import itertools
import json

import numpy as np
import pyarrow as pa
import pytest
from scipy.optimize import linear_sum_assignment

from curation.interleave.assign import Mmc4Assign, assign
from curation.io.interleaved import to_table
from curation.io.mmc4 import read_mmc4
from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit

MMC4 = ("mmc4", "docs_no_face_shard_151_v3.partial.jsonl.gz")


def _optimum(sim: np.ndarray) -> float:
    rows, cols = linear_sum_assignment(sim, maximize=True)  # rectangular: min(images, sentences) pairs
    return float(sim[rows, cols].sum())


def _matched_total(sim: np.ndarray, chosen: np.ndarray) -> float | None:
    """Best total of one image per sentence such that every other image sits at its argmax (None: no such pick)."""
    holders = [np.flatnonzero(chosen == j).tolist() for j in range(sim.shape[1])]
    best = None
    for pick in itertools.product(*holders):
        rest = set(range(len(chosen))) - set(pick)
        if all(sim[i].argmax() == chosen[i] for i in rest):
            total = sum(sim[i, j] for j, i in enumerate(pick))
            best = total if best is None else max(best, total)
    return best


def test_assignment_is_optimal_and_injective_on_random_matrices():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_img, n_txt = (int(v) for v in rng.integers(1, 7, size=2))
        sim = rng.random((n_img, n_txt))
        chosen = assign(sim)
        if n_img <= n_txt:
            assert len(set(chosen.tolist())) == n_img
            assert sim[np.arange(n_img), chosen].sum() == pytest.approx(_optimum(sim))
        else:  # every sentence holds one matched image (an optimal matching), the leftovers sit at their argmax
            assert set(chosen.tolist()) == set(range(n_txt))
            assert _matched_total(sim, chosen) == pytest.approx(_optimum(sim.T))


def test_more_images_than_sentences_leftovers_go_to_argmax():
    sim = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.6], [0.1, 0.3]])
    # the matched pair set maximises the total over both sentences: (0 -> 0) and (2 -> 1); 1 and 3 are leftovers
    assert assign(sim).tolist() == [0, 0, 1, 1]


def test_op_writes_index_similarity_floor_and_errors():
    docs = to_table(
        [
            {"doc_id": "a", "texts": ["x", "y"], "images": [{"url": "u1"}, {"url": "u2"}],
             "similarity_matrix": [[0.1, 0.3], [0.4, 0.2]]},
            {"doc_id": "b", "texts": ["x"], "images": [{"url": "u3"}], "similarity_matrix": [[0.1, 0.2]]},
            {"doc_id": "c", "texts": ["x"], "images": [], "similarity_matrix": []},
        ]
    )  # fmt: skip
    out = Mmc4Assign(min_similarity=0.25).map(docs).to_pylist()
    assert [(i["url"], i["text_index"]) for i in out[0]["images"]] == [("u1", 1), ("u2", 0)]
    assert [i["similarity"] for i in out[0]["images"]] == pytest.approx([0.3, 0.4])
    assert out[1]["_error"] == "similarity_matrix_shape"  # 1 image x 2 columns for 1 sentence
    assert out[1]["images"][0]["url"] == "u3"  # an errored row is left as it was
    assert out[2]["_error"] is None and out[2]["images"] == []
    docs = to_table(
        [{"doc_id": "d", "texts": ["x", "y"], "images": [{"url": "u"}], "similarity_matrix": [[0.1, 0.2]]}]
    )
    out = Mmc4Assign(min_similarity=0.25).map(docs).to_pylist()[0]
    assert out["images"] == [] and out["dropped_images"] == [
        {"url": "u", "reason": "mmc4_assign:low_similarity"}
    ]


def test_real_mmc4_documents_against_scipy_and_the_authors(shared):
    """Item 1 of issue 13: optimal and injective where images <= sentences; equal to the authors' assignment
    wherever theirs is optimal, except where a tie (identical sentences) allows both; similarity = matrix entry."""
    path = shared(*MMC4)
    stats = ReaderStats()
    table = pa.concat_tables(read_mmc4(Unit(0, str(path), "mmc4"), stats, 64))
    assert (stats.records, sum(stats.errors.values()), table.num_rows) == (107, 0, 107)
    authors = [[img["text_index"] for img in imgs] for imgs in table.column("images").to_pylist()]
    out = Mmc4Assign().map(table)
    assert "_error" not in out.column_names
    equal = optimal_theirs = images = 0
    for doc, theirs in zip(out.to_pylist(), authors, strict=True):
        sim = np.asarray(doc["similarity_matrix"], np.float32)
        ours = np.array([img["text_index"] for img in doc["images"]])
        n_img, n_txt = sim.shape
        images += n_img
        rows = np.arange(n_img)
        assert [img["similarity"] for img in doc["images"]] == sim[rows, ours].tolist()
        total = float(sim.astype(np.float64)[rows, ours].sum())
        if n_img <= n_txt:
            assert len(set(ours.tolist())) == n_img
            assert total == pytest.approx(_optimum(sim.astype(np.float64)), abs=1e-9)
        else:
            assert set(ours.tolist()) == set(range(n_txt))
            for j in range(n_txt):  # all but one image of each sentence are leftovers, at their argmax
                holders = np.flatnonzero(ours == j)
                assert sum(sim[i].argmax() != j for i in holders) <= 1
        theirs_total = float(sim.astype(np.float64)[rows, theirs].sum())
        if abs(theirs_total - total) <= 1e-6:
            optimal_theirs += 1
            if ours.tolist() == theirs:
                equal += 1
            else:  # a tie: the sentences they differ on are the same sentence repeated
                texts = doc["texts"]
                assert all(texts[a] == texts[b] for a, b in zip(ours, theirs, strict=True) if a != b)
    assert images == 417
    assert (equal, optimal_theirs) == (80, 81)


def test_reader_counts_bad_documents(tmp_path):
    good = {"url": "u", "text_list": ["a", "b"], "image_info": [{"raw_url": "i", "matched_text_index": 1, "matched_sim": 0.2}],
            "similarity_matrix": [[0.1, 0.2]]}  # fmt: skip
    lines = [
        json.dumps(good),
        json.dumps(good | {"image_info": [{"raw_url": "i", "matched_text_index": 7}]}),
        json.dumps(good | {"text_list": None}),
        json.dumps(good | {"similarity_matrix": "nope"}),
        "{not json",
        json.dumps([1, 2]),
        json.dumps(
            good | {"similarity_matrix": [[0.1], [0.2]]}
        ),  # wrong shape: read, then mmc4_assign's error
    ]
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")
    stats = ReaderStats()
    table = pa.concat_tables(read_mmc4(Unit(0, str(path), "mmc4"), stats, 64))
    assert table.num_rows == 2 and stats.records == 7
    assert dict(stats.errors) == {
        "mmc4:text_index_out_of_range": 1,
        "mmc4:no_text_list": 1,
        "mmc4:bad_similarity_matrix": 1,
        "bad_json": 1,
        "mmc4:not_an_object": 1,
    }
    assert Mmc4Assign().map(table).column("_error").to_pylist() == [None, "similarity_matrix_shape"]
