"""The real data of the MetaCLIP tests: WordNet entries and 10,000 real alt texts, split into work units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.balance.builder import build_metadata, write_metadata
from curation.balance.matching import MetaclipMatch
from curation.recipe import load_recipe
from curation.runner.run import RunResult, run_recipe

ALT_TEXTS = ("images", "url_caption_parquet", "img2dataset_test_10000.parquet")
UNIT_ROWS = 1250  # 8 work units of the 10,000 rows


@pytest.fixture(scope="session")
def wordnet_metadata(shared, tmp_path_factory) -> Path:
    """metadata.json from the WordNet database (numbers 0-99 and the first synset lemmas)."""
    entries, _ = build_metadata(wordnet=shared("wordnet"))
    return write_metadata(entries, tmp_path_factory.mktemp("metadata") / "metadata.json")


@pytest.fixture(scope="session")
def alt_texts(shared) -> pa.Table:
    return pq.read_table(shared(*ALT_TEXTS), columns=["URL", "TEXT"])


@pytest.fixture(scope="session")
def pool(alt_texts, tmp_path_factory) -> Path:
    """The alt texts as one parquet file of 8 row groups (8 work units)."""
    path = tmp_path_factory.mktemp("pool") / "alt_texts.parquet"
    pq.write_table(alt_texts, path, row_group_size=UNIT_ROWS)
    return path


def single_process_matches(table: pa.Table, metadata: Path, column: str = "TEXT") -> list[list[int]]:
    op = MetaclipMatch(metadata=str(metadata), column=column)
    op.setup()
    return op.map(table).column("matched_entries").to_pylist()


def single_process_counts(matches: list[list[int] | None], size: int) -> np.ndarray:
    ids = [i for row in matches if row for i in row]
    return np.bincount(np.asarray(ids, np.int64), minlength=size).astype(np.uint64)


def metaclip_overrides(metadata: Path, pool: Path, **balance) -> list[str]:
    params = {"metadata": str(metadata), **balance}
    return [
        f"input.paths=['{pool}']",
        f"steps[0].metaclip_match.metadata={metadata}",
        f"steps[1].metaclip_balance={json.dumps(params)}",
        "output.shard_rows=4000",
    ]


def run_metaclip(out: Path, metadata: Path, pool: Path, *extra: str, **balance) -> RunResult:
    """pipelines/metaclip.yaml on `pool`, embedded Ray."""
    recipe = load_recipe("pipelines/metaclip.yaml", [*metaclip_overrides(metadata, pool, **balance), *extra])
    return run_recipe(recipe, output=str(out))


def balance_summary(out: Path) -> dict:
    (path,) = Path(out).glob("_work/*/intermediate/metaclip_balance.json")
    return json.loads(path.read_text())


def stage_file(out: Path, name: str) -> Path:
    (path,) = Path(out).glob(f"_work/*/intermediate/{name}")
    return path


@pytest.fixture(scope="session")
def reference_matches(alt_texts, wordnet_metadata) -> list[list[int]]:
    """Every alt text's matched entry ids, by the op in this process (no Ray)."""
    return single_process_matches(alt_texts, wordnet_metadata)


@pytest.fixture(scope="session")
def reference_run(ray_local, tmp_path_factory, wordnet_metadata, pool) -> RunResult:
    """The recipe with one worker and t = 20."""
    out = tmp_path_factory.mktemp("metaclip") / "one_worker"
    return run_metaclip(out, wordnet_metadata, pool, "execution.max_workers=1", t=20)


def output_rows(out: Path) -> list[tuple]:
    import pyarrow.dataset as pads

    table = pads.dataset(Path(out) / "data", format="parquet").to_table()
    return list(zip(table.column("URL").to_pylist(), table.column("TEXT").to_pylist(), strict=True))
