"""CPU seconds of each text op on one long pathological document, at two sizes: does the cost grow linearly?

Documents: long runs of one punctuation mark, a base64 blob, `a-` / `a.` repeated, one endless word, newlines only,
a sentence repeated; for `url_filter`, URLs with a long path or host. Each op (at its defaults) scores one document
of `--chars` characters and one of 4x that; the ratio of the two times is ~4 for a linear op and ~16 for a quadratic
one. Prints the documents where an op takes over 0.2 s at the larger size.

    .venv/bin/python benchmarks/text_pathological.py [--chars 250000]
"""

from __future__ import annotations

import argparse
import base64
import random
import time

import pyarrow as pa

from curation.ops import REGISTRY, load_builtin_ops
from curation.ops.base import Filter

OPS = (
    "gopher_repetition",
    "gopher_quality",
    "c4_quality",
    "refinedweb_lines",
    "fineweb_quality",
    "badwords_filter",
    "pii_redact",
)


def documents(chars: int) -> dict[str, str]:
    """Pathological documents of about `chars` characters."""
    blob = base64.b64encode(random.Random(0).randbytes(chars * 3 // 4)).decode()
    repeated = {
        "{ run": "{",
        "} run": "}",
        ". run": ".",
        "- run": "-",
        "a-": "a-",
        "a.": "a.",
        "one word": "x",
        "newlines": "\n",
        "sentence": "This is a sentence. ",
    }
    return {"base64": blob[:chars]} | {
        name: (unit * (chars // len(unit) + 1))[:chars] for name, unit in repeated.items()
    }


def urls(chars: int) -> dict[str, str]:
    """URLs of about `chars` characters: thousands of path segments, or of host labels."""
    return {
        "long path": "http://example.com/" + "a-b/" * (chars // 4),
        "long host": "http://" + "a." * (chars // 2) + "com/",
    }


def seconds(op: object, value: str, column: str) -> float:
    batch = pa.table({column: [value], "text": ["x"]} if column != "text" else {"text": [value]})
    start = time.process_time()
    op.evaluate(batch) if isinstance(op, Filter) else op.map(batch)
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chars", type=int, default=250_000)
    args = ap.parse_args()
    load_builtin_ops()
    cases = [(name, "text", documents(args.chars), documents(4 * args.chars)) for name in OPS]
    cases.append(("url_filter", "url", urls(args.chars), urls(4 * args.chars)))
    print(f"| op | document | {args.chars:,} chars (s) | {4 * args.chars:,} chars (s) | ratio |")
    print("|---|---|---|---|---|")
    for name, column, small, large in cases:
        op = REGISTRY[name]()
        op.setup()
        for doc in small:
            t_small, t_large = seconds(op, small[doc], column), seconds(op, large[doc], column)
            if t_large > 0.2:
                print(
                    f"| {name} | {doc} | {t_small:.2f} | {t_large:.2f} | {t_large / max(t_small, 1e-3):.1f} |"
                )


if __name__ == "__main__":
    main()
