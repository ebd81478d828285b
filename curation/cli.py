"""`curate`: run, validate and report recipes; list ops."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from curation.balance.entries import MetadataError
from curation.io.output_paths import OutputPathError, check_file_path
from curation.io.units import InputError
from curation.recipe import RecipeError, check_columns, load_recipe

SHARD_SAMPLES = 10_000  # `curate export`'s WebDataset samples per tar


class UsageError(ValueError):
    """Options that do not go together."""


def _cmd_run(args: argparse.Namespace) -> int:
    from curation.report import funnel_table
    from curation.runner.accounting import all_errors
    from curation.runner.cluster import ClusterError
    from curation.runner.progress import Progress
    from curation.runner.run import OutputExists, run_recipe
    from curation.runner.segment import StepSetupError

    recipe = load_recipe(args.recipe, args.set)
    try:
        result = run_recipe(
            recipe,
            output=args.output,
            inputs=args.input,
            address=args.address,
            resume=args.resume,
            overwrite=args.overwrite,
            limit=args.limit,
            progress=Progress(sys.stderr),
        )
    except (InputError, OutputExists, ClusterError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StepSetupError as exc:  # the run started: what finished is kept for --resume
        print(f"error: {exc}; once fixed, rerun with --resume to continue", file=sys.stderr)
        return 1
    print(funnel_table(result.stats))
    print(
        f"\n{result.manifest['total_rows']} rows in {len(result.manifest['shards'])} shard(s) -> {result.output}/data"
    )
    print(
        f"time {result.seconds:.1f}s; stats: {result.output}/stats.json; report: curate report {result.output}"
    )
    failed = all_errors(result.stats["steps"])
    if failed:  # finished and written, but a step failed on everything it got: not a success
        said = "; ".join(
            f"{s['step']}: all {s['in']} rows (mostly {max(s['errors'], key=s['errors'].get)})"
            for s in failed
        )
        print(f"error: every row errored in {said}; see {result.output}/stats.json", file=sys.stderr)
        return 1
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe, args.set)
    from curation.io.units import expand_paths
    from curation.preflight import check_input_schemas, check_steps

    files = expand_paths(recipe.input_paths)
    check_input_schemas(files, recipe.input_format)
    check_columns(recipe, files)  # structural, cheap: before any model is loaded
    check_steps(recipe)
    print(f"{args.recipe}: ok ({len(recipe.steps)} steps, {len(files)} input file(s))")
    for step in recipe.steps:
        print(f"  {step.name}: {step.params or '{}'}")
    return 0


def _cmd_ops(args: argparse.Namespace) -> int:
    from curation.ops.catalog import markdown_table, text_listing

    print(markdown_table() if args.markdown else text_listing())
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from curation.instruct.preference import length_bias
    from curation.report import write_report

    paths = write_report(args.output)
    print(
        paths["text"].read_text().rstrip()
    )  # the funnel, and the MetaCLIP entry distribution of a balance run
    bias = length_bias(args.output)
    if bias:  # a preference run: how much longer chosen responses are than rejected ones
        print("\npreference length bias: " + ", ".join(f"{k} {v:.3g}" for k, v in bias.items()))
    print("\n" + "\n".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


def _export_destination(args: argparse.Namespace) -> tuple[str, str]:
    """The format and folder of `curate export`: `--to FORMAT --out DIR`, or `--to DIR` for WebDataset shards."""
    from curation.instruct.export import EXPORT_FORMATS

    formats = (*EXPORT_FORMATS, "webdataset")
    if args.to in EXPORT_FORMATS and args.samples_per_shard is not None:
        raise UsageError(f"--samples-per-shard sizes WebDataset tars; --to {args.to} writes no tar")
    if args.to in formats:
        if not args.out:
            raise UsageError(f"--to {args.to} writes into --out DIR")
        return args.to, args.out
    if args.out:
        raise UsageError(
            f"--out goes with a format ({' | '.join(formats)}); --to {args.to} already names the WebDataset folder"
        )
    return "webdataset", args.to


def _cmd_export(args: argparse.Namespace) -> int:
    from curation.instruct.export import export_instruct
    from curation.io.export_target import staged_export
    from curation.io.interleaved import export_interleaved_webdataset, is_interleaved_output
    from curation.io.shards import read_finished_manifest
    from curation.io.webdataset import export_webdataset

    try:
        fmt, target = _export_destination(args)
        read_finished_manifest(args.output)
        with staged_export(target, args.overwrite, fmt, args.output) as stage:
            if fmt != "webdataset":
                done = export_instruct(args.output, fmt, stage)
            elif is_interleaved_output(args.output):
                shards = export_interleaved_webdataset(
                    args.output, stage, args.samples_per_shard or SHARD_SAMPLES
                )
            else:
                shards = export_webdataset(args.output, stage, args.samples_per_shard or SHARD_SAMPLES)
    except ValueError as exc:  # not a finished run, a run of the wrong contract, a target in the way
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if fmt == "webdataset":
        print(f"{len(shards)} WebDataset shard(s) -> {target}")
    else:
        file = Path(target) / Path(done["file"]).name
        print(f"{done['records']} record(s), {done['images']} image file(s) -> {file}")
    return 0


def _cmd_metadata_build(args: argparse.Namespace) -> int:
    from curation.balance.builder import build_metadata, write_metadata

    check_file_path(args.out)  # before the sources are read
    entries, report = build_metadata(
        args.wordnet, args.unigrams, args.bigrams, args.titles, not args.no_numbers
    )
    path = write_metadata(entries, args.out)
    for source, added in report.added.items():
        print(f"  {source:<32}{added:>9} entries")
    print(
        f"{len(entries)} entries ({report.duplicates} duplicates, {report.skipped} empty/punctuation skipped) -> {path}"
    )
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from curation.bench.config import BenchError, load_bench
    from curation.bench.run import run_bench

    try:
        cfg = load_bench(args.bench, args.scale)
        if args.parallel:
            cfg = dataclasses.replace(cfg, parallel=args.parallel)
        outcome = run_bench(cfg, resume=args.resume)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(outcome.paths["markdown"].read_text())
    print("\n".join(f"{k}: {v}" for k, v in outcome.paths.items()))
    if not outcome.table["rows"]:  # a table of failures only is no result
        print("error: no strategy finished a run; the reasons are listed under the table", file=sys.stderr)
        return 2
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="curate", description="mmcurate: curate multimodal training data on Ray."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a recipe")
    run.add_argument("recipe")
    run.add_argument("--input", action="append", help="input path or glob (repeatable); replaces input.paths")
    run.add_argument("--output", help="output folder; replaces output.path")
    run.add_argument("--address", help="Ray cluster: auto or ray://HOST:PORT (default: embedded local Ray)")
    again = run.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="continue an interrupted run in the same output folder"
    )
    again.add_argument(
        "--overwrite", action="store_true", help="replace an earlier run's output folder (only such a folder)"
    )
    run.add_argument(
        "--limit",
        type=_positive_int,
        metavar="N",
        help="read up to N rows per work unit (quick trials); the records skipped on the way (WARC warcinfo, "
        "request, metadata) count as input too",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a recipe key, e.g. --set steps[2].language_id.min_score=0.5",
    )
    run.set_defaults(fn=_cmd_run)
    val = sub.add_parser("validate", help="check a recipe without running it")
    val.add_argument("recipe")
    val.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    val.set_defaults(fn=_cmd_validate)
    ops = sub.add_parser("ops", help="list every op with its parameters and defaults")
    ops.add_argument("--markdown", action="store_true", help="print the README's op table instead")
    ops.set_defaults(fn=_cmd_ops)
    rep = sub.add_parser("report", help="render the funnel of a finished run (table, PNG, HTML)")
    rep.add_argument("output")
    rep.set_defaults(fn=_cmd_report)
    exp = sub.add_parser(
        "export",
        help="write a finished image-text or interleaved run as WebDataset tar shards, or as LLaVA / ShareGPT / OpenAI / TRL files",
    )
    exp.add_argument("output")
    exp.add_argument(
        "--to",
        required=True,
        help="llava | sharegpt | openai | trl | webdataset (each with --out DIR), or a folder for WebDataset "
        "shards (./webdataset for a folder of that name)",
    )
    exp.add_argument("--out", help="target folder of a format given to --to")
    exp.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier export in the target folder (a folder holding anything else is refused)",
    )
    exp.add_argument(
        "--samples-per-shard",
        type=_positive_int,
        help=f"WebDataset samples per tar (default {SHARD_SAMPLES:,})",
    )
    exp.set_defaults(fn=_cmd_export)
    meta = sub.add_parser("metadata", help="MetaCLIP metadata entry lists").add_subparsers(
        dest="metadata_command", required=True
    )
    build = meta.add_parser(
        "build", help="write a metadata.json from WordNet and unigram / bigram / title files"
    )
    build.add_argument("--out", required=True, help="the JSON list to write")
    build.add_argument(
        "--wordnet", help="WordNet 3.0 database folder (data.noun[.gz], ...): first synset lemmas"
    )
    for kind in ("unigrams", "bigrams", "titles"):
        build.add_argument(
            f"--{kind}", action="append", default=[], help=f"{kind} file, one per line (repeatable)"
        )
    build.add_argument("--no-numbers", action="store_true", help="leave out MetaCLIP's entries 0..99")
    build.set_defaults(fn=_cmd_metadata_build)
    bench = sub.add_parser(
        "bench", help="DataComp-style benchmark of filtering strategies (train CLIP, evaluate)"
    )
    bench.add_argument("bench", help="BENCH.yaml")
    bench.add_argument(
        "--resume", action="store_true", help="continue in the same output; finished runs are kept"
    )
    bench.add_argument(
        "--scale", help="train at this scale instead of the file's (tiny, small, medium, large, xlarge)"
    )
    bench.add_argument(
        "--parallel", type=_positive_int, help="trainings at once (replaces the file's `parallel`)"
    )
    bench.set_defaults(fn=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (RecipeError, InputError, FileNotFoundError, MetadataError, OutputPathError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, not the traceback of wherever Ray Data was waiting
        hint = "; rerun with --resume to continue" if args.command in ("run", "bench") else ""
        print(f"interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
