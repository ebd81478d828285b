"""Run `open_clip_train.main` with its sample shuffle seeded.

open_clip_train shuffles samples in a webdataset buffer whose generator it seeds from the clock, so two runs with
the same `--seed` see different orders. This entry point seeds that buffer from `--seed` (and nothing else) and
then hands the unchanged argument list to open_clip's own trainer:
`python -m curation.bench.launch <open_clip_train arguments>`.
"""

from __future__ import annotations

import functools
import random
import sys


def main(argv: list[str]) -> int:
    import webdataset
    from open_clip_train import main as trainer

    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
    webdataset.shuffle = functools.partial(webdataset.shuffle, rng=random.Random(seed))
    result = trainer.main(argv)
    return 1 if result == -1 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
