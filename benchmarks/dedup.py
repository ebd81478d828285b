"""Near-duplicate removal benchmark: MinHash signatures/s vs datasketch, end-to-end docs/s vs datatrove's four
MinHash stages, and peak memory per Ray worker as the corpus grows.

    .venv/bin/python benchmarks/dedup.py --e2e-docs 10000 40000 --skip-memory      # signatures + end to end
    .venv/bin/python benchmarks/dedup.py --docs 62500 --scales 1 4 16 --memory-only  # memory at 62.5k..1M docs
    .venv/bin/python benchmarks/dedup.py --e2e-docs 40000 --signatures-only          # signatures only

The corpus is synthetic but made of real text: short documents (windows of 30-150 words) cut from the Common Crawl
documents in `../shared/data/cc_text` (or the bundled `data/cc_text` file), a fifth of them re-emitted as edited
near-duplicates (word edit rates 0-5 %). Both systems get the same JSONL files and the same 5-gram, 14 x 8 setup.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import tempfile
import threading
import time
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
SOURCES = [REPO.parent / "shared" / "data" / "cc_text", REPO / "data" / "cc_text"]
NON_LETTERS = re.compile(r"[\x00-\x60\x7b-\x7f]+")
BANDS, ROWS, NGRAM = 14, 8, 5


def source_words() -> list[list[str]]:
    for folder in SOURCES:
        files = sorted(folder.glob("*.jsonl.gz"))
        if files:
            docs = []
            for f in files:
                with gzip.open(f, "rt", encoding="utf-8") as fh:
                    docs += [json.loads(line)["text"].split() for line in fh if line.strip()]
            return [d for d in docs if len(d) >= 30]
    raise SystemExit("no cc_text corpus found")


def synthetic_corpus(n: int, seed: int = 0) -> list[str]:
    """`n` short documents: windows of real documents, 20 % of them edited copies of earlier ones."""
    rng = np.random.default_rng(seed)
    words = source_words()
    vocab = sorted({w for d in words[:200] for w in d})
    out: list[str] = []
    for _ in range(n):
        if out and rng.random() < 0.2:
            base = out[int(rng.integers(len(out)))].split()
            rate = rng.random() * 0.05
            keep = rng.random(len(base)) >= rate
            swap = vocab[int(rng.integers(len(vocab)))]
            out.append(" ".join(w if k else swap for w, k in zip(base, keep, strict=True)))
            continue
        doc = words[int(rng.integers(len(words)))]
        length = int(rng.integers(30, 151))
        start = int(rng.integers(max(1, len(doc) - length)))
        salt = f"{int(rng.integers(1 << 30)):x}"  # windows of one document overlap; keep them distinct
        out.append(" ".join(doc[start : start + length]) + f" ref{salt}")
    return out


def write_jsonl(texts: list[str], folder: Path, files: int = 4) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for part in range(files):
        path = folder / f"part{part:02d}.jsonl"
        with open(path, "w") as fh:
            for i in range(part, len(texts), files):
                fh.write(json.dumps({"id": f"d{i}", "text": texts[i]}) + "\n")
        paths.append(str(path))
    return paths


def python_shingles(text: str) -> list[bytes]:
    words = NON_LETTERS.sub(" ", unicodedata.normalize("NFKC", text).lower()).split()
    return [" ".join(words[i : i + NGRAM]).encode() for i in range(max(1, len(words) - NGRAM + 1))]


def _rates(cases: dict, rounds: int = 5) -> dict[str, float]:
    """Documents per CPU second of each `name: (documents, fn)` case in this process, best of `rounds` rounds
    that each run every case once (CPU time, and interleaved rounds: the machine is shared, and other work on
    a sibling hardware thread slows whatever runs alongside it)."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, (_, fn) in cases.items():
            t0 = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - t0)
    return {name: n / best[name] for name, (n, _) in cases.items()}


def bench_signatures(texts: list[str]) -> dict:
    """Signatures per CPU second (best of 5 interleaved rounds), one process, 14 x 8 = 112 permutations, same
    texts for both libraries.

    `from_text`: text -> signature (ours: compiled normalisation + shingling + hashing, batches of 1024;
    datasketch: the Python shingling of `python_shingles` + `MinHash.bulk`). `from_shingles`: shingling done
    beforehand (ours: shingle hashes -> signatures; datasketch: shingle bytes -> `bulk`, `update_batch`, `update`).
    """
    from datasketch import MinHash

    from curation.dedup.shingles import shingle_hashes
    from curation.dedup.signatures import minhash, permutations

    perms = permutations(BANDS * ROWS, 0)
    batches = [pa.array(texts[lo : lo + 1024]) for lo in range(0, len(texts), 1024)]
    shingled_batches = [shingle_hashes(b, NGRAM) for b in batches]

    def ours_text() -> None:
        for b in batches:
            sh = shingle_hashes(b, NGRAM)
            minhash(sh.hashes, sh.doc, len(b), perms)

    def ours_sig() -> None:
        for b, sh in zip(batches, shingled_batches, strict=True):
            minhash(sh.hashes, sh.doc, len(b), perms)

    sample = texts[: max(1000, len(texts) // 10)]
    shingled = [python_shingles(t) for t in sample]

    def ds_text() -> None:
        MinHash.bulk([python_shingles(t) for t in sample], num_perm=BANDS * ROWS, seed=1)

    def ds_update_batch() -> None:
        for sh in shingled:
            MinHash(num_perm=BANDS * ROWS, seed=1).update_batch(sh)

    def ds_update() -> None:
        for sh in shingled[:300]:
            m = MinHash(num_perm=BANDS * ROWS, seed=1)
            for piece in sh:
                m.update(piece)

    rates = _rates(
        {
            "ours_from_text": (len(texts), ours_text),
            "ours_from_shingles": (len(texts), ours_sig),
            "datasketch_from_text_bulk": (len(sample), ds_text),
            "datasketch_from_shingles_bulk": (
                len(sample),
                lambda: MinHash.bulk(shingled, num_perm=BANDS * ROWS, seed=1),
            ),
            "datasketch_from_shingles_update_batch": (len(sample), ds_update_batch),
            "datasketch_from_shingles_update": (300, ds_update),
        }
    )
    out = {k + "_docs_per_cpu_s": round(v) for k, v in rates.items()}
    out["speedup_from_text_vs_bulk"] = round(rates["ours_from_text"] / rates["datasketch_from_text_bulk"], 1)
    out["speedup_from_shingles_vs_bulk"] = round(
        rates["ours_from_shingles"] / rates["datasketch_from_shingles_bulk"], 1
    )
    out["speedup_from_shingles_vs_update"] = round(
        rates["ours_from_shingles"] / rates["datasketch_from_shingles_update"], 1
    )
    out["docs"] = len(texts)
    return out


DEDUP_TASKS = ("_map_task", "_scatter_task", "_gather_task", "_mark")


def descendants(root: int) -> set[int]:
    """Process ids below `root` in the process tree (this driver's Ray cluster: `address="local"` starts it as
    children, so other users' Ray workers on a shared machine are left out)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(") ", 1)[1].split()[1])  # "pid (comm) state ppid ..."
        except (OSError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


class WorkerMemory:
    """Samples the private resident memory (RssAnon) of every Ray worker process of this driver's cluster,
    keeping the peak per process and per process title (`ray::<task name>`), so the dedup stage's own tasks can be
    told from the runner's. Ray reuses worker processes, so a task's peak can hold memory an earlier task left in
    its process; `growth_by_task` is the peak less the RssAnon the process had in the sample before it was first
    seen running that task (consecutive tasks of one name in one process count as one run)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.peaks: dict[int, int] = {}
        self.dedup_peaks: dict[int, int] = {}
        self.by_task: dict[str, int] = {}
        self.growth_by_task: dict[str, int] = {}
        self._runs: dict[int, tuple[str, int]] = {}  # pid -> (title, RssAnon before it)
        self._last: dict[int, int] = {}  # pid -> RssAnon at the previous sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            for pid in descendants(os.getpid()):
                pid_dir = Path("/proc") / str(pid)
                try:
                    cmd = (pid_dir / "cmdline").read_bytes()
                    if b"default_worker.py" not in cmd and not cmd.startswith(b"ray::"):
                        continue
                    status = (pid_dir / "status").read_text()
                except OSError:
                    continue
                match = re.search(r"RssAnon:\s+(\d+) kB", status)
                if match:
                    rss = int(match.group(1)) * 1024
                    self.peaks[pid] = max(self.peaks.get(pid, 0), rss)
                    if any(name.encode() in cmd for name in DEDUP_TASKS):
                        self.dedup_peaks[pid] = max(self.dedup_peaks.get(pid, 0), rss)
                    task = cmd.split(b"\0")[0].decode(errors="replace")[:60]
                    self.by_task[task] = max(self.by_task.get(task, 0), rss)
                    run = self._runs.get(pid)
                    if run is None or run[0] != task:
                        run = self._runs[pid] = (task, self._last.get(pid, rss))
                    self._last[pid] = rss
                    self.growth_by_task[task] = max(self.growth_by_task.get(task, 0), rss - run[1])
            time.sleep(interval)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_ours(paths: list[str], out: Path, verify: bool) -> tuple[float, dict, WorkerMemory]:
    """(seconds, stats, worker memory peaks) of `minhash_dedup` (fineweb preset) through the runner."""
    import ray

    from curation.recipe import parse_recipe
    from curation.runner.run import run_recipe

    recipe = parse_recipe(
        {
            "name": "bench_minhash",
            "input": {"format": "jsonl", "paths": paths},
            "output": {"path": str(out)},
            "steps": [{"minhash_dedup": {"preset": "fineweb", "verify": verify}}],
        }
    )
    ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    with WorkerMemory() as mem:
        t0 = time.perf_counter()
        result = run_recipe(recipe, output=str(out), overwrite=True)
        seconds = time.perf_counter() - t0
    ray.shutdown()
    return seconds, result.stats, mem


def run_datatrove(paths: list[str], work: Path) -> tuple[float, int]:
    """(seconds, kept docs) of datatrove's signature -> buckets -> cluster -> filter stages, 2 workers."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    config = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    data = str(Path(paths[0]).parent)
    tasks = len(paths)

    def reader() -> JsonlReader:
        return JsonlReader(data, glob_pattern="*.jsonl", text_key="text", id_key="id")

    logs = str(work / "logs")
    stages = [
        ([reader(), MinhashDedupSignature(output_folder=str(work / "sigs"), config=config)], tasks),
        ([MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=config)],
         BANDS),
        ([MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=config)],
         1),
        ([reader(), MinhashDedupFilter(input_folder=str(work / "remove")), JsonlWriter(str(work / "out"))], tasks),
    ]  # fmt: skip
    t0 = time.perf_counter()
    for i, (pipeline, n) in enumerate(stages):
        LocalPipelineExecutor(pipeline=pipeline, tasks=n, workers=2, logging_dir=f"{logs}/{i}").run()
    seconds = time.perf_counter() - t0
    kept = 0
    for f in (work / "out").glob("*"):
        with gzip.open(f, "rt") if f.suffix == ".gz" else open(f) as fh:
            kept += sum(1 for _ in fh)
    return seconds, kept


def load() -> list[float]:
    """The 1/5/15-minute load averages (the machine is shared: every figure carries the load it ran under)."""
    return [round(x, 2) for x in os.getloadavg()]


def end_to_end(base: list[str], tmp: Path, skip_datatrove: bool) -> dict:
    """Ours vs datatrove on the same JSONL files (both without candidate verification), one after the other."""
    paths = write_jsonl(base, tmp / f"in{len(base)}")
    row: dict = {"docs": len(base), "load_before": load()}
    seconds, stats, _ = run_ours(paths, tmp / f"ours{len(base)}", verify=False)
    step = next(s for s in stats["steps"] if s["step"] == "minhash_dedup")
    row.update(
        ours_seconds=round(seconds, 1), ours_docs_per_s=round(len(base) / seconds), ours_kept=step["out"]
    )
    if not skip_datatrove:
        row["load_between"] = load()
        dt_seconds, dt_kept = run_datatrove(paths, tmp / f"datatrove{len(base)}")
        row.update(
            datatrove_seconds=round(dt_seconds, 1),
            datatrove_docs_per_s=round(len(base) / dt_seconds),
            datatrove_kept=dt_kept,
            speedup=round(dt_seconds / seconds, 2),
        )
    row["load_after"] = load()
    print(json.dumps(row), flush=True)
    return row


def memory_row(scale: int, docs: int, tmp: Path) -> dict:
    """Peak memory of our dedup (with verification) on `docs * scale` documents in `4 * scale` files."""
    texts = synthetic_corpus(docs * scale)
    paths = write_jsonl(texts, tmp / f"in{scale}x", files=4 * scale)
    del texts
    before = load()
    seconds, _, mem = run_ours(paths, tmp / f"mem{scale}", verify=True)
    row = {
        "scale": scale,
        "docs": docs * scale,
        "seconds": round(seconds, 1),
        "load_before": before,
        "load_after": load(),
        "peak_worker_rss_anon_mib": round(max(mem.peaks.values(), default=0) / 2**20, 1),
        "peak_dedup_task_rss_anon_mib": round(max(mem.dedup_peaks.values(), default=0) / 2**20, 1),
        "peak_by_task_mib": {k: round(v / 2**20) for k, v in sorted(mem.by_task.items())},
        "growth_by_task_mib": {k: round(v / 2**20) for k, v in sorted(mem.growth_by_task.items())},
    }
    print(json.dumps(row), flush=True)
    shutil.rmtree(tmp / f"mem{scale}", ignore_errors=True)
    shutil.rmtree(tmp / f"in{scale}x", ignore_errors=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=62500, help="documents at scale 1x of the memory runs")
    parser.add_argument("--e2e-docs", type=int, nargs="+", default=[10000], help="end-to-end corpus sizes")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "dedup_results.json"))
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--memory-only", action="store_true", help="only the 1x/4x/16x memory runs")
    parser.add_argument("--skip-memory", action="store_true", help="only signatures and end to end")
    parser.add_argument("--signatures-only", action="store_true", help="only the signatures/s comparison")
    args = parser.parse_args()
    out = Path(args.out)
    results: dict = {"machine": {"cpus": os.cpu_count()}, "bands": BANDS, "rows": ROWS, "ngram": NGRAM}
    if out.exists():  # keep the sections this run does not measure
        results.update(json.loads(out.read_text()))

    def save() -> None:  # after every section, so a run stopped early keeps what it finished
        out.write_text(json.dumps(results, indent=2) + "\n")

    tmp = Path(tempfile.mkdtemp(prefix="dedup_bench_"))
    try:
        if not args.memory_only:
            base = synthetic_corpus(args.e2e_docs[0])
            results["signatures"] = {"load_before": load(), **bench_signatures(base), "load_after": load()}
            print(json.dumps(results["signatures"]), flush=True)
            save()
        if not (args.memory_only or args.signatures_only):
            results["end_to_end"] = []
            for docs in args.e2e_docs:
                results["end_to_end"].append(end_to_end(synthetic_corpus(docs), tmp, args.skip_datatrove))
                save()
        if not (args.skip_memory or args.signatures_only):
            results["memory"] = []
            for scale in args.scales:
                results["memory"].append(memory_row(scale, args.docs, tmp))
                save()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    save()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
