"""Test corpora for near-dup removal: real documents, edited variants of them, and exact Jaccard ground truth.

The ground truth is computed independently of mmcurate's hashing: Python sets of word 5-gram tuples after the
same normalisation (NFKC, lower case, every run of ASCII non-letters -> one space), compared pair by pair.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import yaml

from curation.recipe import load_recipe
from curation.runner.run import run_recipe
from tests.cli_process import kill_when_exists

_NON_LETTERS = re.compile(r"[\x00-\x60\x7b-\x7f]+")
REPO = Path(__file__).resolve().parents[2]
BUNDLED_DOCS = REPO / "data" / "cc_text" / "dolma_ccnet_cc_en_head-0091.jsonl.gz"


def read_texts(path: Path, min_words: int = 0) -> list[str]:
    """The `text` of every line of a (gzipped) JSONL file with at least `min_words` words."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh if line.strip()]
    return [t for t in texts if len(t.split()) >= min_words]


def reference_shingles(text: str, n: int = 5) -> frozenset[tuple[str, ...]]:
    """Word n-gram set of the normalised text (a shorter text is one shingle; no words: empty)."""
    words = _NON_LETTERS.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()
    if len(words) < n:
        return frozenset([tuple(words)]) if words else frozenset()
    return frozenset(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def reference_ngram_bytes(text: str, n: int = 5, mode: str = "word") -> list[bytes]:
    """Every n-gram of the normalised text as UTF-8, in order: word n-grams joined by one space, or character
    n-grams of the words joined by one space; a shorter text is one n-gram, one without words has none. Lower
    case is Arrow's `utf8_lower`, the definition mmcurate uses (Python's `str.lower` differs on a few letters)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lowered = pc.utf8_lower(pa.array([unicodedata.normalize("NFKC", text)])).to_pylist()[0]
    words = [w for w in _NON_LETTERS.sub(" ", lowered).split(" ") if w]
    tokens, sep = (words, " ") if mode == "word" else (list(" ".join(words)), "")
    if len(tokens) < n:
        return [sep.join(tokens).encode()] if tokens else []
    return [sep.join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)]


def edit(text: str, rate: float, vocabulary: list[str], rng: np.random.Generator) -> str:
    """Substitute, delete or insert a word at each position with probability `rate` (a third each)."""
    out: list[str] = []
    for word in text.split():
        u = rng.random()
        if u >= rate:
            out.append(word)
        elif u < rate / 3:
            out.append(vocabulary[rng.integers(len(vocabulary))])
        elif u < 2 * rate / 3:
            continue
        else:
            out.extend([word, vocabulary[rng.integers(len(vocabulary))]])
    return " ".join(out)


def variant_corpus(
    sources: list[str], rates: list[float], per_source: int, seed: int
) -> tuple[list[str], list[int]]:
    """Sources followed by `per_source` edited copies of each (rates drawn from `rates`); returns texts, family."""
    rng = np.random.default_rng(seed)
    vocabulary = sorted({w for t in sources for w in t.split()})
    texts, family = list(sources), list(range(len(sources)))
    for index, source in enumerate(sources):
        for rate in rng.choice(rates, size=per_source):
            texts.append(edit(source, float(rate), vocabulary, rng))
            family.append(index)
    return texts, family


def exact_jaccard_pairs(texts: list[str], n: int = 5) -> dict[tuple[int, int], float]:
    """Exact Jaccard of every pair of documents that share at least one shingle (all others are 0)."""
    sets = [reference_shingles(t, n) for t in texts]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for doc, shingles in enumerate(sets):
        for s in shingles:
            index[s].append(doc)
    pairs = {pair for docs in index.values() for pair in combinations(docs, 2)}
    return {(a, b): len(sets[a] & sets[b]) / len(sets[a] | sets[b]) for a, b in pairs}


def closure(num_docs: int, edges: list[tuple[int, int]]) -> list[int]:
    """Component label (smallest member) of each document under the transitive closure of `edges`."""
    parent = list(range(num_docs))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(x) for x in range(num_docs)]


def replace_every(text: str, step: int, offset: int, word: str = "zzqx") -> str:
    """`text` with every `step`-th word (from `offset`) replaced by `word`: a deterministic edit."""
    words = text.split()
    return " ".join(word if i % step == offset else w for i, w in enumerate(words))


def run_stage(stage, table, work_dir: Path, files: int = 2):  # noqa: ANN001, ANN201 - Stage, pa.Table -> pa.Table
    """Run a Stage directly on `table` (given `_order` = row index) split into parquet files; rows in input order."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray.data

    from curation.stagekit.context import StageContext

    table = table.append_column("_order", pa.array(range(table.num_rows), pa.int64()))
    paths = []
    step = -(-table.num_rows // files)
    for i in range(files):
        path = work_dir / "in" / f"o{i:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(i * step, step), path)
        paths.append(str(path))
    ctx = StageContext(
        work_dir=work_dir / "stage",
        seed=0,
        num_workers=2,
        resume=False,
        rows=table.num_rows,
        input_files=tuple(paths),
    )
    out = stage.run(ray.data.read_parquet(paths), ctx)
    batches = list(out.iter_batches(batch_format="pyarrow", batch_size=None))
    return pa.concat_tables(batches).sort_by("_order")


def write_recipe(folder: Path, docs: list[str], order: np.ndarray, name: str, step: dict) -> Path:
    """`docs` in `order` as three JSONL files (`id` = d<index>) under the new `folder`, and a recipe running `step`
    on them; returns the recipe's path."""
    folder.mkdir()
    for part in range(3):
        lines = [json.dumps({"id": f"d{i}", "text": docs[i]}) for i in order[part::3]]
        (folder / f"part{part}.jsonl").write_text("\n".join(lines) + "\n")
    recipe = {
        "name": name,
        "input": {"format": "jsonl", "paths": [str(folder / "*.jsonl")]},
        "output": {"path": str(folder / "unused")},
        "steps": [step],
    }
    path = folder / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def kill_inside_and_resume(recipe: Path, out: Path, stage: str, kill_at: str, kept: str) -> Path:
    """Run `recipe` with `curate`, SIGKILL it once stage folder `stage`'s sub-phase `kill_at` has finished (the
    stage itself not), resume it in this process and return its output folder; sub-phase `kept`, finished before
    the kill, must not be recomputed."""
    intermediate = out / "_work" / stage / "intermediate"
    kill_when_exists(intermediate / kill_at / "_SUCCESS.json", "run", str(recipe), "--output", str(out))
    assert not (out / "_work" / stage / "_SUCCESS.json").exists(), "the kill must land inside the stage"
    marker = intermediate / kept / "_SUCCESS.json"
    stamp = marker.stat().st_mtime_ns
    resumed = run_recipe(load_recipe(recipe), output=str(out), resume=True)
    assert marker.stat().st_mtime_ns == stamp  # finished sub-phases are not recomputed
    return resumed.output
