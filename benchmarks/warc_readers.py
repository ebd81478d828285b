"""FastWARC vs warcio vs mmcurate's damage-tolerant reader (`curation.io.warc.read_warc`, which also undoes
HTTP chunking and content encodings): records/s reading every response record's payload of the same WARC, in
the same run.

python benchmarks/warc_readers.py [WARC] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "warc" / "visible_pages.warc.gz"


def read_fastwarc(path: str) -> int:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    n = 0
    for record in ArchiveIterator(path, record_types=WarcRecordType.response, parse_http=True):
        record.reader.read()
        n += 1
    return n


def read_warcio(path: str) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            if record.rec_type == "response":
                record.content_stream().read()
                n += 1
    return n


def read_mmcurate(path: str) -> int:
    from curation.io.reader_stats import ReaderStats
    from curation.io.units import Unit
    from curation.io.warc import read_warc

    return sum(t.num_rows for t in read_warc(Unit(0, path, "warc"), ReaderStats(), 512))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warc", nargs="?", default=str(DEFAULT))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not Path(args.warc).exists():
        raise SystemExit(f"skip: {args.warc} not found (../shared/data is not present)")
    print("| reader | records | median s | records/s |\n|---|---|---|---|")
    results = {}
    for name, fn in (("fastwarc", read_fastwarc), ("warcio", read_warcio), ("mmcurate", read_mmcurate)):
        times, n = [], 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            n = fn(args.warc)
            times.append(time.perf_counter() - start)
        results[name] = statistics.median(times)
        print(f"| {name} | {n} | {results[name]:.3f} | {n / results[name]:.0f} |")
    print(f"\nfastwarc is {results['warcio'] / results['fastwarc']:.1f}x faster than warcio")
    print(f"mmcurate's reader takes {results['mmcurate'] / results['fastwarc']:.2f}x fastwarc's time")


if __name__ == "__main__":
    main()
