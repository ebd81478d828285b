"""Interleaved documents: what the image dedup stage and OBELICS's ratio rules do to real data.

    .venv/bin/python benchmarks/interleaved_quality.py

1. `interleaved_image_dedup` on the 2008 Heritrix crawl right after `attach_images` (before the size rules remove
   the icons), with OBELICS's key (`by: [url]`) and with pHash as well: removals by rule, most removed URLs, edges.
2. OBELICS's document- and node-level ratio rules on the 107 real MMC4 documents and the crawl's documents: how
   many fail, by first failing rule and by each rule alone; the flagged-word rule with better-profanity's list.
3. Node-level text filter time with and without the ratio rules (CPU seconds of this process, same run).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
from common import SHARED_DATA, machine

from curation.interleave.extract import HtmlInterleave
from curation.interleave.filters import RATIO_CUTOFFS as RATIOS
from curation.interleave.filters import InterleavedDocFilter, InterleavedTextFilter
from curation.interleave.text_quality import list_ratio, word_list, words
from curation.io.mmc4 import read_mmc4
from curation.io.reader_stats import ReaderStats
from curation.io.units import Unit
from curation.io.warc import read_warc

WARC = SHARED_DATA / "warc" / "samples" / "ipwb_IAH-20080430204825-00000-blackbook.warc.gz"
MMC4 = SHARED_DATA / "mmc4" / "docs_no_face_shard_151_v3.partial.jsonl.gz"
OFF = {"lang": None, "min_images": None, "max_images": None, "min_words": None, "max_words": None}


def dedup_on_crawl(out: Path) -> dict:
    import ray

    from curation.recipe import parse_recipe
    from curation.runner.run import run_recipe

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    results = {}
    for name, by in (("url", ["url"]), ("phash_and_url", ["phash", "url"])):
        recipe = parse_recipe(
            {"name": name, "input": {"format": "warc", "paths": [str(WARC)]}, "output": {"rejects": True},
             "steps": [{"html_interleave": {}}, {"attach_images": {}}, {"interleaved_image_dedup": {"by": by}}]}
        )  # fmt: skip
        run = run_recipe(recipe, output=str(out / name))
        (found,) = [p for p in (out / name).rglob("summary.json") if "image_dedup" in str(p)]
        removed = Counter()
        for folder in ("data", "rejects"):
            table = pads.dataset(out / name / folder).to_table()
            if "dropped_images" in table.column_names:
                for gone in table.column("dropped_images").to_pylist():
                    removed.update(d["url"] for d in gone or [] if "image_dedup" in d["reason"])
        results[name] = {
            "identity_holds": run.stats["totals"]["identity_holds"],
            "summary": json.loads(found.read_text()),
            "most_removed": removed.most_common(8),
        }
    ray.shutdown()
    return results


def rule_rates(name: str, docs: list[list[str]]) -> dict:
    doc = InterleavedDocFilter(**OFF)
    doc.setup()
    node = InterleavedTextFilter(min_words=0, max_words=10**9)
    node.setup()
    joined = ["\n\n".join(t for t in texts if t) for texts in docs]
    alone = {}
    for rule in RATIOS:
        one = InterleavedDocFilter(**OFF, **{r: None for r in RATIOS if r != rule})
        one.setup()
        alone[rule] = sum(one._rules.failed(text) is not None for text in joined)
    profanity = word_list("profanity")
    return {
        "documents": len(docs),
        "document_first_failing": dict(Counter(doc._rules.failed(text) for text in joined)),
        "document_each_rule_alone": alone,
        "flagged_with_better_profanity": sum(list_ratio(words(t), profanity) > 0.01 for t in joined),
        "text_nodes": sum(len(t) for t in docs),
        "node_first_failing": dict(Counter(node._rules.failed(t) for texts in docs for t in texts)),
    }


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="interleaved_quality_"))
    try:
        report = {"machine": machine(), "dedup_on_crawl": dedup_on_crawl(out)}
    finally:
        shutil.rmtree(out, ignore_errors=True)
    mmc4 = pa.concat_tables(read_mmc4(Unit(0, str(MMC4), "mmc4"), ReaderStats(), 1000))
    rows = pa.concat_tables(read_warc(Unit(0, str(WARC), "warc"), ReaderStats(), 1000))
    extracted = HtmlInterleave().evaluate(rows)
    extracted = extracted.filter(pa.compute.is_valid(extracted.column("texts")))
    report["rules_mmc4"] = rule_rates("mmc4", mmc4.column("texts").to_pylist())
    report["rules_crawl"] = rule_rates("crawl", extracted.column("texts").to_pylist())
    timings = {}
    for label, params in (("with_ratio_rules", {}), ("words_only", dict.fromkeys(RATIOS))):
        op = InterleavedTextFilter(**params)
        op.setup()
        cpu = time.process_time()
        op.map(extracted)
        timings[label] = round(time.process_time() - cpu, 3)
    report["text_filter_cpu_seconds_on_crawl"] = timings
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
