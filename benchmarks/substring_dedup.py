"""What exact-substring dedup (`substring_dedup`, 50 GPT-2 pre-tokens) cuts from real English web text, and its cost
next to `minhash_dedup` in the same run.

Texts: the English Common Crawl documents of ../shared/data/cc_text (dolma's CC sample, WET-style text) and the
visible pages as `pipelines/refinedweb.yaml` extracts them, kept as English by language ID; each set alone, after
`minhash_dedup {preset: refinedweb}` as in the recipe. Per set: documents cut and dropped, characters cut, stage
seconds, and the spans cut from the most documents.

`--scales 1 4` adds seconds and peak memory per Ray worker on `dedup.py`'s synthetic corpus (windows of the
cc_text documents, overlapping, a fifth of them edited copies: many repeated spans) at `--docs` x each scale. With
`--peer`, the same corpus also goes through Lee et al.'s method in one process: a suffix array and its LCP array
over the corpus' token ids (libdivsufsort through `pydivsufsort`, bench extra), every position whose suffix shares
`min_tokens` or more tokens with its neighbour in the array starting a repeated window; the texts must be equal.

    .venv/bin/python benchmarks/substring_dedup.py                              (about 2 min)
    .venv/bin/python benchmarks/substring_dedup.py --skip-real --scales 1 4 --peer   (as the corpus grows)
"""

from __future__ import annotations

import argparse
import difflib
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import ray
from common import cc_texts, markdown_table, pick_warc
from dedup import WorkerMemory, synthetic_corpus, write_jsonl
from extraction import op_engine, read_pages
from refinedweb_lines import english

from curation.dedup.token_spans import pretoken_bounds
from curation.recipe import parse_recipe
from curation.runner.run import run_recipe
from curation.text.words import count_words


def removed_pieces(before: str, after: str) -> list[str]:
    """The stretches of `before` missing from `after` (`after` is `before` with spans cut out)."""
    ops = difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes()
    return [before[i1:i2] for tag, i1, i2, _, _ in ops if tag in ("delete", "replace")]


def measure(name: str, texts: list[str], folder: Path) -> tuple[list, Counter]:
    path = folder / f"{name}.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), path)
    steps = [{"minhash_dedup": {"preset": "refinedweb"}}, {"substring_dedup": {"min_tokens": 50}}]
    result = run_recipe(
        parse_recipe({"name": name, "input": {"paths": [str(path)]}, "steps": steps}),
        output=str(folder / name),
    )
    out = {r["id"]: r["text"] for r in pads.dataset(folder / name / "data").to_table().to_pylist()}
    minhash, substring = result.stats["steps"][-2], result.stats["steps"][-1]
    cut = [i for i in out if out[i] != texts[i]]
    chars_in = sum(len(texts[i]) for i in range(len(texts)))
    chars_cut = sum(len(texts[i]) - len(out[i]) for i in cut)
    pieces: Counter[str] = Counter()
    for i in cut:
        pieces.update({p.strip()[:90] for p in removed_pieces(texts[i], out[i]) if p.strip()})
    dropped = sum(substring["dropped"].values())
    row = [
        name,
        len(texts),
        f"{chars_in / 1e6:.2f}",
        substring["in"],
        f"{len(cut)} ({len(cut) / substring['in']:.1%})",
        f"{dropped} ({dropped / substring['in']:.1%})",
        f"{chars_cut / chars_in:.2%}",
        f"{substring['seconds']:.2f}",
        f"{minhash['seconds']:.2f}",
    ]
    return row, pieces


def suffix_array_cut(texts: list[str], k: int = 50) -> list[str]:
    """ExactSubstr by suffix array: each text without the tokens of its windows of `k` tokens that occur twice."""
    from pydivsufsort import divsufsort, kasai

    bounds = [pretoken_bounds(t) for t in texts]
    vocab: dict[str, int] = {}
    ids = [
        [vocab.setdefault(t[a:b], len(vocab)) for a, b in zip(c[:-1], c[1:], strict=True)]
        for t, c in zip(texts, bounds, strict=True)
    ]
    offsets = np.cumsum([0] + [len(x) + 1 for x in ids])  # each document, then a separator of its own
    sequence = np.empty(offsets[-1], dtype=np.int64)
    for d, doc in enumerate(ids):
        sequence[offsets[d] : offsets[d + 1] - 1] = doc
        sequence[offsets[d + 1] - 1] = len(vocab) + d  # unique: no match runs across documents
    order = divsufsort(sequence)
    lcp = kasai(sequence, order)
    starts = np.unique(np.concatenate([order[:-1][lcp[:-1] >= k], order[1:][lcp[:-1] >= k]]))
    depth = np.zeros(len(sequence) + 1, dtype=np.int64)
    np.add.at(depth, starts, 1)
    np.add.at(depth, starts + k, -1)
    covered = np.cumsum(depth[:-1]) > 0
    out = []
    for d, (text, chars) in enumerate(zip(texts, bounds, strict=True)):
        cut = covered[offsets[d] : offsets[d + 1] - 1]
        out.append("".join(text[chars[j] : chars[j + 1]] for j in np.flatnonzero(~cut)))
    return out


def peer_row(docs: int, texts: list[str], ours: dict[int, str]) -> list:
    """Seconds and peak memory of `suffix_array_cut` in this process, and whether its texts equal the stage's."""
    start = time.process_time()
    expected = suffix_array_cut(texts)
    seconds = time.process_time() - start
    same = all(  # a document the stage dropped was cut below 50 words
        ours[i] == expected[i] if i in ours else expected[i] != texts[i] and count_words(expected[i]) < 50
        for i in range(len(texts))
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [f"{docs:,}", f"{seconds:.1f} CPU s", f"{peak:.0f} (driver process)", "yes" if same else "NO"]


def scale_row(docs: int, folder: Path, peer: bool) -> tuple[list, list | None]:
    """Seconds and peak worker memory of `substring_dedup` alone on `docs` synthetic documents (and the peer's)."""
    texts = synthetic_corpus(docs)
    megabytes = sum(len(t) for t in texts) / 1e6
    paths = write_jsonl(texts, folder / f"in{docs}", files=max(4, docs // 15625))
    recipe = parse_recipe(
        {"name": "scale", "input": {"format": "jsonl", "paths": paths}, "steps": [{"substring_dedup": {}}]}
    )
    with WorkerMemory() as mem:
        start = time.perf_counter()
        result = run_recipe(recipe, output=str(folder / f"out{docs}"))
        seconds = time.perf_counter() - start
    step = result.stats["steps"][-1]
    stage_tasks = [v for k, v in mem.by_task.items() if "_scatter_task" in k or "_gather_task" in k]
    peer_result = None
    if peer:
        table = pads.dataset(folder / f"out{docs}" / "data").to_table(columns=["id", "text"]).to_pylist()
        ours = {int(r["id"][1:]): r["text"] for r in table}
        peer_result = peer_row(docs, texts, ours)
    return [
        f"{docs:,}",
        f"{megabytes:.1f}",
        f"{sum(step['notes'].values()):,}",
        f"{sum(step['dropped'].values()):,}",
        f"{step['seconds']:.1f}",
        f"{seconds:.1f}",
        f"{max(mem.peaks.values(), default=0) / 2**20:.0f}",
        f"{max(stage_tasks, default=0) / 2**20:.0f}",
    ], peer_result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-real", action="store_true", help="skip the real-text table")
    parser.add_argument("--scales", type=int, nargs="*", default=[], help="synthetic corpus sizes, x --docs")
    parser.add_argument("--docs", type=int, default=62500)
    parser.add_argument(
        "--peer", action="store_true", help="also a suffix array in one process (pydivsufsort)"
    )
    args = parser.parse_args()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    if args.scales:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [scale_row(args.docs * scale, Path(tmp), args.peer) for scale in args.scales]
        headers = [
            "docs",
            "MB",
            "cut",
            "dropped",
            "stage s",
            "run s",
            "peak worker MiB",
            "peak shuffle task MiB",
        ]
        print(markdown_table(headers, [row for row, _ in rows]))
        if args.peer:
            headers = ["docs", "suffix array + LCP, one process", "peak MiB", "same texts as the stage"]
            print(markdown_table(headers, [peer for _, peer in rows]))
    if args.skip_real:
        return
    extract = op_engine("resiliparse")
    sets = {
        "cc_text (dolma CC sample)": english(cc_texts()),
        "visible pages, extracted": english([extract(p) for p in read_pages(pick_warc(False, None))]),
    }
    rows, examples = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, texts in sets.items():
            row, examples[name] = measure(name.split()[0], texts, Path(tmp))
            rows.append(row)
    headers = ["texts", "docs", "MB", "after MinHash", "cut", "dropped (< 50 words left)", "chars cut"]
    print(markdown_table([*headers, "`substring_dedup` s", "`minhash_dedup` s"], rows))
    for name, pieces in examples.items():
        print(f"\n{name}: spans cut from the most documents")
        for piece, n in pieces.most_common(6):
            print(f"  {n} docs: {piece!r}")


if __name__ == "__main__":
    main()
