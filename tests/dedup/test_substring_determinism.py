"""substring_dedup gives the embedded run's texts on a 2-node cluster and after a SIGKILL inside the stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
from dedup_corpus import BUNDLED_DOCS, kill_inside_and_resume, read_texts, write_recipe

from curation.recipe import load_recipe
from curation.runner.run import run_recipe
from tests.cli_process import run_on_two_nodes

pytestmark = pytest.mark.slow
STAGE = "p01_stage_substring_dedup"


def _corpus(folder: Path) -> Path:
    """Three JSONL files: the bundled documents' paragraphs, and documents quoting 60-120 words of another one."""
    rng = np.random.default_rng(11)
    paragraphs = [p for t in read_texts(BUNDLED_DOCS) for p in t.split("\n") if len(p.split()) >= 60]
    docs = list(paragraphs)
    for i in range(len(paragraphs)):
        words = paragraphs[int(rng.integers(len(paragraphs)))].split()
        start = int(rng.integers(len(words) - 59))
        quote = " ".join(words[start : start + int(rng.integers(60, 121))])
        own = paragraphs[i].split()[::-1]  # the paragraph's words reversed: no span of it occurs elsewhere
        docs.append(f"{' '.join(own[:40])}\n{quote}\n{' '.join(own[40:])}")
    order = rng.permutation(len(docs))
    return write_recipe(folder, docs, order, "substring_determinism", {"substring_dedup": {}})


def _result(out: Path) -> list[tuple]:
    table = pads.dataset(out / "data", format="parquet").to_table()
    return sorted(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))


@pytest.fixture(scope="module")
def reference(ray_local, tmp_path_factory):
    folder = tmp_path_factory.mktemp("substring_det")
    recipe = _corpus(folder / "in")
    result = run_recipe(load_recipe(recipe), output=str(folder / "reference"))
    step = result.stats["steps"][-1]
    assert step["notes"]["substring_dedup:spans_cut"] >= 40  # quoted and quoting documents are cut
    return recipe, _result(result.output)


def test_two_node_cluster_gives_the_same_texts(reference, tmp_path):
    recipe, expected = reference
    run_on_two_nodes("run", str(recipe), "--output", str(tmp_path / "cluster"))
    assert _result(tmp_path / "cluster") == expected


def test_resume_after_sigkill_inside_the_stage(reference, tmp_path):
    recipe, expected = reference
    out = kill_inside_and_resume(recipe, tmp_path / "killed", STAGE, "windows", "windows")
    assert _result(out) == expected
