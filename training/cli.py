"""The `train` console script: `train launch CONFIG [...]` and `train export RUN_DIR OUT`."""

from __future__ import annotations

import argparse
import os
import sys

from curation.rows import SchemaMismatch
from training.config import ConfigError


def _ranks(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:  # -1 started no rank at all and exited 0
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="train", description="Train and export mmcurate VLMs.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_launch = sub.add_parser("launch", help="run one training stage (align / instruct / dpo)")
    p_launch.add_argument("config", help="stage config YAML")
    where = p_launch.add_mutually_exclusive_group()
    where.add_argument(
        "--num-gpus", type=_ranks, default=None, help="local ranks (GPUs; CPU processes without GPUs)"
    )
    where.add_argument("--hostfile", default=None, help="DeepSpeed hostfile for multi-node runs")
    again = p_launch.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true", help="continue from the latest complete checkpoint")
    again.add_argument(
        "--overwrite", action="store_true", help="replace the run already in a non-empty output_dir"
    )
    p_launch.add_argument("overrides", nargs="*", help="config overrides, key.sub=value")
    p_export = sub.add_parser("export", help="export a run's checkpoint as HF save_pretrained LM + projector")
    p_export.add_argument("run_dir")
    p_export.add_argument("out_dir")
    p_export.add_argument("--tag", default=None, help="checkpoint tag (default: latest)")
    p_export.add_argument(
        "--overwrite", action="store_true", help="replace the export already in a non-empty out_dir"
    )
    args, extra = parser.parse_known_args(argv)
    if extra and (args.command != "launch" or any(e.startswith("-") for e in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    loose = [e for e in args.overrides + extra if "=" not in e] if args.command == "launch" else []
    if loose:  # e.g. the second half of an unquoted `train.lora={r: 4}`
        parser.error(
            f"{loose[0]!r} is not a key.sub=value override (quote a value that holds spaces: 'train.lora={{r: 4}}')"
        )
    try:
        if args.command == "launch":
            from training.launch import launch

            overrides = args.overrides + extra  # overrides may come before or after the flags
            return launch(args.config, overrides, args.num_gpus, args.hostfile, args.resume, args.overwrite)
        from training.export import export_checkpoint

        print(export_checkpoint(args.run_dir, args.out_dir, args.tag, args.overwrite))
        return 0
    except (ConfigError, SchemaMismatch, FileNotFoundError, ValueError) as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    code = main()
    # Everything is written and closed (the ranks have exited, an export is in place); skip interpreter
    # teardown, seconds with torch, transformers and DeepSpeed loaded, as training.worker does.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
