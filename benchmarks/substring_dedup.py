"""What exact-substring dedup (`substring_dedup`, 50 GPT-2 pre-tokens) cuts from real English web text, and its cost
next to `minhash_dedup` in the same run.

Texts: the English Common Crawl documents of ../shared/data/cc_text (dolma's CC sample, WET-style text) and the
visible pages as `pipelines/refinedweb.yaml` extracts them, kept as English by language ID; each set alone, after
`minhash_dedup {preset: refinedweb}` as in the recipe. Per set: documents cut and dropped, characters cut, stage
seconds, and the spans cut from the most documents.

    .venv/bin/python benchmarks/substring_dedup.py   (about 2 min)
"""

from __future__ import annotations

import difflib
import tempfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import ray
from common import cc_texts, markdown_table, pick_warc
from extraction import op_engine, read_pages
from refinedweb_lines import english

from curation.recipe import parse_recipe
from curation.runner.run import run_recipe


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


def main() -> None:
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
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
