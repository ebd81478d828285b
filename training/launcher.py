"""`python -m training.launcher ARGS`: DeepSpeed's single-node launcher (`deepspeed.launcher.launch`, same
arguments, same exit codes), leaving without interpreter teardown once its ranks are done.

Tearing down an interpreter that imported torch and DeepSpeed takes seconds, and `train launch` waits for it.
"""

from __future__ import annotations

import os
import sys

from deepspeed.launcher.launch import main


def run() -> None:
    try:
        main()
        code = 0
    except SystemExit as exc:  # a failed rank or a signal: the launcher stopped the ranks, then sys.exit
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
