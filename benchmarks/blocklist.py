"""UT1 blocklist: size, load time, memory and lookup cost per URL of `url_filter` with `blocklist: ut1`.

URLs: the visible pages' `WARC-Target-URI`s (warc/visible_pages_index.jsonl.gz) plus, to exercise hits, one URL
under every 1000th listed domain. Compares the hashed lookup with a plain Python set of the same domains.

    .venv/bin/python benchmarks/blocklist.py
"""

from __future__ import annotations

import gzip
import json
import resource
import time
from pathlib import Path

import pyarrow as pa

from curation.ops.blocklist import installed_ut1, read_ut1
from curation.ops.url import UrlFilter, _domain_keys, url_domain

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    source = installed_ut1()
    t0 = time.process_time()
    domains, urls = read_ut1(source)
    read_s = time.process_time() - t0
    print(f"source {source}: {len(domains):,} domains, {len(urls):,} URLs, read in {read_s:.1f} CPU s")
    base = rss_mb()
    op = UrlFilter(blocklist="ut1", banned_words="none", soft_banned_words="none")
    t0 = time.perf_counter()
    op.setup()
    print(
        f"url_filter setup {time.perf_counter() - t0:.1f} s; hashed lists {(op._domains.nbytes + op._urls.nbytes) / 1e6:.0f} MB"
    )
    with gzip.open(SHARED / "warc" / "visible_pages_index.jsonl.gz", "rt") as f:
        page_urls = [json.loads(line)["url"] for line in f]
    test_urls = page_urls + [f"https://www.{d}/some/page.html" for d in domains[::1000]]
    table = pa.table({"url": test_urls})
    t0 = time.process_time()
    for _ in range(5):
        out = op.evaluate(table)
    hashed_us = (time.process_time() - t0) / (5 * len(test_urls)) * 1e6
    reasons = out.column("_drop").to_pylist()
    print("blocked visible pages:", [u for u, r in zip(page_urls, reasons, strict=False) if r])
    print(
        f"{len(test_urls)} URLs: {sum(r is not None for r in reasons[: len(page_urls)])} of {len(page_urls)} visible pages"
        f" blocked, {sum(r is not None for r in reasons[len(page_urls) :])} of {len(test_urls) - len(page_urls)} listed"
    )
    print(
        f"hashed lookup: {hashed_us:.2f} us per URL (CPU), peak RSS after setup {rss_mb():.0f} MB (was {base:.0f})"
    )
    plain = set(domains)
    t0 = time.process_time()
    for _ in range(5):
        for u in test_urls:
            any(k in plain for k in _domain_keys(url_domain(u)))
    print(
        f"plain set (domains only): {(time.process_time() - t0) / (5 * len(test_urls)) * 1e6:.2f} us per URL, "
        f"peak RSS {rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
