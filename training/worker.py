"""Entry point of one rank, started by the DeepSpeed launcher: `python -m training.worker CONFIG [--resume] [k=v ...]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from training.config import load_config
from training.trainer import Trainer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="training.worker")
    parser.add_argument("config")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout
    )
    cfg = load_config(args.config, args.overrides)
    Trainer(cfg).run(resume=args.resume)
    # Everything is written and closed; skip interpreter teardown, which can take many seconds in the
    # native libraries (gloo, OpenMP) and delays the launcher noticing that the rank is done.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
