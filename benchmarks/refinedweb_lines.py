"""What RefinedWeb's line-wise corrections (`refinedweb_lines`) remove on real English text, next to C4's rules.

Texts: the visible pages as `pipelines/refinedweb.yaml` extracts them (the `html_extract` op's default engine),
those language ID keeps as English (fastText, >= 0.65); and the English Common Crawl documents of
../shared/data/cc_text (dolma's CC-MAIN-2019-30 sample, WET-style text). Per text set: documents corrected and
dropped, lines and words removed by rule, and the share `c4_quality` drops of the same documents.

    .venv/bin/python benchmarks/refinedweb_lines.py   (about 1 min)
"""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
from common import cc_texts, markdown_table, pick_warc
from extraction import op_engine, read_pages

from curation.ops.c4 import C4Quality
from curation.ops.lang import LanguageId
from curation.ops.refinedweb import RefinedWebLines
from curation.text.words import count_words


def english(texts: list[str]) -> list[str]:
    op = LanguageId(keep=["en"], min_score=0.65)
    op.setup()
    drops = op.evaluate(pa.table({"text": texts})).column("_drop").to_pylist()
    return [t for t, d in zip(texts, drops, strict=True) if d is None and t]


def text_sets() -> dict[str, list[str]]:
    extract = op_engine("resiliparse")
    pages = [extract(p) for p in read_pages(pick_warc(False, None))]
    return {"visible pages, extracted": english(pages), "cc_text (dolma CC sample)": english(cc_texts())}


def effects(texts: list[str]) -> tuple[list, dict[str, list[str]]]:
    """The table row of one text set, and up to 4 removed lines per rule."""
    op = RefinedWebLines()
    lines, words, examples = Counter(), Counter(), {}
    corrected = dropped = 0
    for text in texts:
        out, removed, total = op.correct(text)
        dropped += removed > op.max_removed_share * total
        corrected += out != text
        for line in text.split("\n"):
            stripped, after = line.strip(), op.correct_line(line)
            if not stripped or after == line:
                continue
            rule = op.removal_rule(stripped) or "pattern"
            lines[rule] += 1
            words[rule] += count_words(line) - count_words(after)
            examples.setdefault(rule, [])
            if len(examples[rule]) < 4:
                examples[rule].append(stripped[:70])
    c4 = C4Quality().evaluate(pa.table({"text": texts})).column("_drop").to_pylist()
    rules = ("uppercase", "numeric", "counter", "one_word", "pattern")
    row = [
        len(texts),
        f"{corrected} ({corrected / len(texts):.0%})",
        f"{dropped} ({dropped / len(texts):.1%})",
        *(f"{lines[r]} / {words[r]}" for r in rules),
        f"{sum(d is not None for d in c4) / len(texts):.1%}",
    ]
    return row, examples


def main() -> None:
    rows, samples = [], {}
    for name, texts in text_sets().items():
        row, samples[name] = effects(texts)
        rows.append([name, *row])
    headers = ["texts", "English docs", "corrected", "dropped (> 5 % of words)"]
    headers += [f"{r}: lines / words" for r in ("uppercase", "numeric", "counter", "one word", "patterns")]
    print(markdown_table([*headers, "`c4_quality` drops"], rows))
    for name, by_rule in samples.items():
        for rule, lines in by_rule.items():
            print(f"{name} / {rule}: {lines}")


if __name__ == "__main__":
    main()
