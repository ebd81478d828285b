"""CPU milliseconds per page of each step of the `blocks` engine, and of resiliparse's main-content extraction
(what a "block is in resiliparse's output" feature would add), all visible gold pages twice, one process.

    cd benchmarks && ../.venv/bin/python extraction_blocks_cost.py
"""

from __future__ import annotations

import time
from collections import defaultdict

from common import pick_warc
from extraction import load_gold, read_pages
from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import HTMLTree

from curation.ops.block_features import features, stage2_rows
from curation.ops.html import decode_html
from curation.ops.html_blocks import shipped_model
from curation.ops.html_walk import blocks, parse


def main(repeat: int = 2) -> None:
    gold = load_gold()
    pages = [p for p in read_pages(pick_warc(False, None), None) if p.record_id in gold]
    htmls = [decode_html(p.payload, p.http_charset)[0] for p in pages]
    model = shipped_model()
    spent: dict[str, float] = defaultdict(float)
    options = {"main_content": True, "alt_texts": False, "comments": False, "post_meta": False}  # the op's

    def timed(step: str, fn, *args):
        start = time.process_time()
        out = fn(*args)
        spent[step] += time.process_time() - start
        return out

    for _ in range(repeat):
        for html in htmls:
            root = timed("parse", parse, html)
            page = timed("blocks", blocks, root) if root is not None else []
            if page:
                x = timed("features", features, page)
                p = timed("stage-1 trees", model.stage1.proba, x)
                x2 = timed("stage-2 rows", stage2_rows, p, page, x)
                timed("stage-2 trees", model.stage2.proba, x2)
            timed(
                "resiliparse main_content", lambda h: extract_plain_text(HTMLTree.parse(h), **options), html
            )
    n = repeat * len(htmls)
    print(
        f"{len(htmls)} pages x {repeat}: " + " | ".join(f"{k} {v / n * 1e3:.2f} ms" for k, v in spent.items())
    )


if __name__ == "__main__":
    main()
