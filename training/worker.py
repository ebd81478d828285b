"""Entry point of one rank, started by the DeepSpeed launcher: `python -m training.worker CONFIG [--resume] [k=v ...]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from training.config import load_config
from training.trainer import Trainer, TrainingError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="training.worker")
    parser.add_argument("config")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args(argv)
    # start-up and progress lines come from rank 0 only; the other ranks report warnings and errors
    level = logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    logging.getLogger("DeepSpeed").setLevel(max(level, logging.getLogger("DeepSpeed").level))
    cfg = load_config(args.config, args.overrides)
    try:
        Trainer(cfg).run(resume=args.resume)
    except TrainingError as exc:  # bad data, not a bug: one line, and `train launch` exits 2
        print(f"train: error: {exc}", file=sys.stderr, flush=True)
        os._exit(2)
    # Everything is written and closed; skip interpreter teardown, which can take many seconds in the
    # native libraries (gloo, OpenMP) and delays the launcher noticing that the rank is done.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
