"""minhash_dedup end to end: a hand-checked case with bad input, per-group dedup, and accuracy on real documents."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from dedup_corpus import (
    BUNDLED_DOCS,
    closure,
    exact_jaccard_pairs,
    read_texts,
    reference_shingles,
    replace_every,
    run_stage,
    variant_corpus,
)

from curation.dedup.minhash import MinhashDedup
from curation.recipe import parse_recipe
from curation.runner.run import run_recipe


def _recipe(inputs: str, fmt: str, step: dict) -> object:
    return parse_recipe(
        {
            "name": "minhash_test",
            "input": {"format": fmt, "paths": [inputs]},
            "output": {"path": "unused"},
            "steps": [{"minhash_dedup": step}],
        }
    )


def _step(stats: dict) -> dict:
    return next(s for s in stats["steps"] if s["step"] == "minhash_dedup")


def _hand_checked_docs() -> tuple[list[str], list[str]]:
    texts = read_texts(BUNDLED_DOCS)
    a, b, c = texts[6], texts[7], texts[8]
    a1 = replace_every(a, 100, 7)  # J(a, a1) = 0.90
    a2 = replace_every(a1, 100, 57)  # J(a1, a2) = 0.90, J(a, a2) = 0.82
    b1 = " ".join(b.split()[: int(len(b.split()) * 0.55)])  # J(b, b1) = 0.55: not a duplicate
    c1 = c.upper().replace(".", " ;")  # same words: J = 1
    docs = {
        "a": a, "a1": a1, "b": b, "b1": b1, "c": c, "d": "Hello world", "a2": a2, "c1": c1,
        "d1": "hello, WORLD!", "empty": "", "digits": "1234 5678", "g": texts[9],
    }  # fmt: skip
    return list(docs), list(docs.values())


def test_hand_checked_components_and_bad_input(ray_local, tmp_path):
    ids, texts = _hand_checked_docs()
    # the expected clusters, checked by hand, equal the transitive closure of exact-Jaccard >= 0.75 pairs
    expected = [{"a", "a1", "a2"}, {"c", "c1"}, {"d", "d1"}]
    sets = [reference_shingles(t) for t in texts]
    edges = [(i, j) for i, j in combinations(range(len(ids)), 2) if sets[i] and sets[j]
             and len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= 0.75]  # fmt: skip
    labels = closure(len(ids), edges)
    closure_groups = [{ids[k] for k in range(len(ids)) if labels[k] == r} for r in sorted(set(labels))]
    assert sorted(map(sorted, (g for g in closure_groups if len(g) > 1))) == sorted(map(sorted, expected))

    raw = [t.encode() for t in texts] + [b"caf\xe9 au lait \xff\xfe is not utf-8 at all here"]
    table = pa.table({"id": ids + ["latin1"], "text": pa.array(raw, pa.binary())})
    pq.write_table(table, tmp_path / "in.parquet")
    result = run_recipe(_recipe(str(tmp_path / "in.parquet"), "parquet", {}), output=str(tmp_path / "out"))
    kept = pads.dataset(tmp_path / "out" / "data", format="parquet").to_table().column("id").to_pylist()
    assert kept == ["a", "b", "b1", "c", "d", "empty", "digits", "g"]  # first of each cluster, input order
    step = _step(result.stats)
    assert step["dropped"] == {"minhash_dedup:near_duplicate": 4}
    assert step["errors"] == {"minhash_dedup:non_utf8_text": 1}
    assert result.stats["totals"]["identity_holds"]
    work = tmp_path / "out" / "_work"
    summary = json.loads(next(work.glob("*minhash_dedup/intermediate/summary.json")).read_text())
    assert summary["documents"] == {"ok": 8, "short": 2, "no_tokens": 2, "non_utf8_text": 1}


def test_group_by_keeps_clusters_inside_each_group_and_tag_only_audits(ray_local, tmp_path):
    ids, texts = _hand_checked_docs()
    dumps = ["x" if i != "a2" else "y" for i in ids]
    table = pa.table({"id": ids, "text": texts, "dump": dumps})
    out = run_stage(MinhashDedup(group_by="dump", tag_only=True), table, tmp_path)
    assert out.num_rows == len(ids) and "_drop" not in out.column_names
    dup = dict(zip(out.column("id").to_pylist(), out.column("is_duplicate").to_pylist(), strict=True))
    assert [i for i, d in dup.items() if d] == ["a1", "c1", "d1"]  # a2 is alone in dump y
    cluster = dict(zip(out.column("id").to_pylist(), out.column("dup_cluster").to_pylist(), strict=True))
    assert cluster["a1"] == cluster["a"] == ids.index("a") and cluster["a2"] == ids.index("a2")


def _accuracy(texts: list[str], clusters: list[int]) -> tuple[float, float, int, int]:
    """(recall on pairs with J >= 0.85, false-merge rate on pairs with J < 0.6, their counts)."""
    jac = exact_jaccard_pairs(texts)
    at_06 = closure(len(texts), [p for p, j in jac.items() if j >= 0.6])
    high = [p for p, j in jac.items() if j >= 0.85]
    low = [p for p, j in jac.items() if j < 0.6]
    recall = np.mean([clusters[a] == clusters[b] for a, b in high])
    # merged although no chain of pairs with J >= 0.6 links them
    false = np.mean([clusters[a] == clusters[b] and at_06[a] != at_06[b] for a, b in low])
    return float(recall), float(false), len(high), len(low)


@pytest.mark.slow
@pytest.mark.shared_data
def test_fineweb_preset_accuracy_on_real_documents_and_edited_variants(ray_local, shared, tmp_path):
    sources = read_texts(shared("cc_text", "dolma_CC-MAIN-20190717121559-20190717143559-00140.jsonl.gz"), 50)
    rates = [0.0, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3]
    texts, family = variant_corpus(sources, rates, per_source=2, seed=0)
    order = np.random.default_rng(1).permutation(len(texts))  # variants before sources, too
    texts = [texts[i] for i in order]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    result = run_recipe(_recipe(str(path), "jsonl", {"tag_only": True}), output=str(tmp_path / "out"))
    out = pads.dataset(tmp_path / "out" / "data", format="parquet").to_table()
    assert out.column("id").to_pylist() == [f"d{i}" for i in range(len(texts))]
    clusters = out.column("dup_cluster").to_pylist()
    dup = out.column("is_duplicate").to_pylist()

    recall, false_merge, n_high, n_low = _accuracy(texts, clusters)
    print(
        f"recall {recall:.4f} on {n_high} pairs J>=0.85; false merges {false_merge:.4f} on {n_low} pairs J<0.6"
    )
    assert n_high > 400 and n_low > 1000
    assert recall >= 0.95
    assert false_merge <= 0.01
    # the kept row of every cluster is its first row in input order
    first: dict[int, int] = {}
    for i, c in enumerate(clusters):
        first.setdefault(c, i)
    assert dup == [first[c] != i for i, c in enumerate(clusters)]
    assert _step(result.stats)["in"] == len(texts)
