"""Part 1 of MetaCLIP's metadata: the first lemma of every WordNet synset, read from the WordNet database files."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

POS_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
_ADJ_MARKER = re.compile(r"\((a|p|ip)\)$")  # syntactic marker of an adjective lemma, not part of the word


def _open(folder: Path, name: str):
    for candidate, opener in ((folder / f"{name}.gz", gzip.open), (folder / name, open)):
        if candidate.exists():
            return opener(candidate, "rt", encoding="utf-8")
    raise FileNotFoundError(f"WordNet folder {folder} has no {name} or {name}.gz (a WordNet 3.0 database)")


def first_lemmas(folder: str | Path) -> Iterator[str]:
    """The first lemma of each synset, in database order: lower-cased, `_` -> space, adjective markers removed.

    (The lower-casing is what NLTK's synset names, which MetaCLIP reads, do to the lemma.)
    """
    folder = Path(folder)
    for name in POS_FILES:
        with _open(folder, name) as lines:
            for line in lines:
                if line.startswith("  "):  # licence header
                    continue
                fields = line.split(" ", 5)
                if len(fields) < 6:
                    raise ValueError(f"{folder / name}: not a WordNet data line: {line[:80]!r}")
                yield _ADJ_MARKER.sub("", fields[4]).lower().replace("_", " ")


def wordnet_entries(folder: str | Path) -> list[str]:
    """Distinct first lemmas of every synset, in first-seen order."""
    return list(dict.fromkeys(first_lemmas(folder)))
