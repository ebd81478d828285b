"""`pii_redact` against datatrove's PIIFormatter (FineWeb's PII step), per document: the same replacements?

Texts: those of filter_parity.py (the visible gold main texts and the Common Crawl texts of `cc_text/`) and the
full text of every visible page (`warc/visible_pages.warc.gz`, resiliparse without main-content extraction:
footers and contact boxes hold most addresses). Both sides write `<EMAIL>` / `<IP>` as placeholders, so the
outputs compare as strings. Prints per source how many documents each side changes and how many outputs
differ, the differing spans, documents per CPU-second of each side over all texts (median of 3), and the CPU
seconds of each side on base64 blobs of growing length (a long run of address characters with no `@`).

    .venv/bin/python benchmarks/pii_parity.py
"""

from __future__ import annotations

import base64
import difflib
import random
import statistics
import time
from collections.abc import Callable

from common import pick_warc
from extraction import read_pages
from filter_parity import visible_texts

from curation.ops.html import decode_html
from curation.ops.pii import PiiRedact


def page_texts() -> list[str]:
    """The full text of every visible page."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    texts = []
    for page in read_pages(pick_warc(False, None)):
        html, _ = decode_html(page.payload, page.http_charset)
        texts.append(extract_plain_text(HTMLTree.parse(html), main_content=False))
    return texts


def cpu_rate(fn: Callable[[str], str], texts: list[str], repeat: int = 3) -> float:
    """Documents per CPU-second of `fn` over `texts`, the median of `repeat` passes."""
    rates = []
    for _ in range(repeat):
        start = time.process_time()
        for text in texts:
            fn(text)
        rates.append(len(texts) / (time.process_time() - start))
    return statistics.median(rates)


def main() -> None:
    from datatrove.pipeline.formatters import PIIFormatter

    reference = PIIFormatter(email_replacement="<EMAIL>", ip_replacement="<IP>")
    op = PiiRedact(email_placeholders=["<EMAIL>"], ip_placeholders=["<IP>"])
    sources = {"gold and cc_text": visible_texts(), "visible pages, full text": page_texts()}
    print("| texts | documents | changed by datatrove | changed by pii_redact | outputs differ |")
    print("|---|---|---|---|---|")
    spans = []
    for name, texts in sources.items():
        theirs = [reference.format(t) for t in texts]
        ours = [op.redact(t)[0] for t in texts]
        differ = [(a, b) for a, b in zip(theirs, ours, strict=True) if a != b]
        changed_theirs = sum(a != t for a, t in zip(theirs, texts, strict=True))
        changed_ours = sum(b != t for b, t in zip(ours, texts, strict=True))
        print(f"| {name} | {len(texts)} | {changed_theirs} | {changed_ours} | {len(differ)} |")
        for a, b in differ:
            words_a, words_b = a.split(), b.split()
            matcher = difflib.SequenceMatcher(None, words_a, words_b, autojunk=False)
            spans += [
                (" ".join(words_a[i1:i2]), " ".join(words_b[j1:j2]))
                for tag, i1, i2, j1, j2 in matcher.get_opcodes()
                if tag != "equal"
            ]
    for theirs_span, ours_span in spans:
        print(f"  datatrove: {theirs_span[:80]!r}  pii_redact: {ours_span[:80]!r}")
    everything = [t for texts in sources.values() for t in texts]
    print(
        f"documents per CPU-second over all {len(everything)}: datatrove {cpu_rate(reference.format, everything):.0f}, "
        f"pii_redact {cpu_rate(lambda t: op.redact(t)[0], everything):.0f}"
    )
    for chars in (25_000, 50_000, 100_000):
        blob = base64.b64encode(random.Random(chars).randbytes(chars * 3 // 4)).decode()
        seconds = [cpu_seconds(fn, blob) for fn in (reference.format, lambda t: op.redact(t)[0])]
        print(
            f"base64 blob of {chars:,} characters: datatrove {seconds[0]:.2f} s, pii_redact {seconds[1]:.3f} s"
        )


def cpu_seconds(fn: Callable[[str], str], text: str) -> float:
    """CPU seconds of one call of `fn` on `text`."""
    start = time.process_time()
    fn(text)
    return time.process_time() - start


if __name__ == "__main__":
    main()
