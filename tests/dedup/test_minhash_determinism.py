"""Same clusters and kept rows on 1 or 2 Ray nodes, and after a SIGKILL in the components phase + --resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
from dedup_corpus import BUNDLED_DOCS, edit, kill_inside_and_resume, read_texts, write_recipe

from curation.recipe import load_recipe
from curation.runner.run import run_recipe
from tests.cli_process import run_on_two_nodes

pytestmark = pytest.mark.slow
STAGE = "p01_stage_minhash_dedup"


def _corpus(folder: Path) -> Path:
    """Three JSONL files: the bundled documents and chains of edited copies (each edits the previous one)."""
    sources = read_texts(BUNDLED_DOCS)
    rng = np.random.default_rng(7)
    vocab = sorted({w for t in sources for w in t.split()})
    docs = []
    for s in sources:
        chain = [s]
        for _ in range(4):
            chain.append(edit(chain[-1], 0.01, vocab, rng))
        docs.extend(chain)
    order = rng.permutation(len(docs))
    return write_recipe(folder, docs, order, "minhash_determinism", {"minhash_dedup": {"tag_only": True}})


def _result(out: Path) -> list[tuple]:
    table = pads.dataset(out / "data", format="parquet").to_table()
    cols = ("id", "dup_cluster", "is_duplicate")
    return list(zip(*(table.column(c).to_pylist() for c in cols), strict=True))


@pytest.fixture(scope="module")
def reference(ray_local, tmp_path_factory):
    folder = tmp_path_factory.mktemp("minhash_det")
    recipe = _corpus(folder / "in")
    result = run_recipe(load_recipe(recipe), output=str(folder / "reference"))
    rows = _result(result.output)
    assert sum(dup for _, _, dup in rows) >= 20  # the chains are found
    return recipe, rows


def test_two_node_cluster_gives_the_same_clusters(reference, tmp_path):
    recipe, expected = reference
    run_on_two_nodes("run", str(recipe), "--output", str(tmp_path / "cluster"))
    assert _result(tmp_path / "cluster") == expected


def test_resume_after_sigkill_in_the_components_phase(reference, tmp_path):
    recipe, expected = reference
    out = kill_inside_and_resume(recipe, tmp_path / "killed", STAGE, "components/r000_large", "signatures")
    assert _result(out) == expected
