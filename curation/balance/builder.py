"""`curate metadata build`: an entry list in MetaCLIP's `metadata.json` layout from WordNet and user lists.

MetaCLIP's rules: the numbers 0-99, then WordNet's first synset lemmas, then Wikipedia unigrams, bigrams and
titles (here: the user's files, one entry per line); duplicates and empty or single-punctuation entries dropped.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from curation.balance.entries import MetadataError
from curation.balance.wordnet import wordnet_entries
from curation.io.atomic import atomic_path

NUMBERS = tuple(str(i) for i in range(100))
_FORBIDDEN = frozenset(string.punctuation)


@dataclass
class BuildReport:
    """Entries added per source, and what was skipped (duplicates, empty or punctuation-only entries)."""

    added: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    skipped: int = 0


def read_lines(path: str | Path) -> list[str]:
    """One entry per line (surrounding whitespace removed); a missing or non-UTF-8 file is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"entry file {path} does not exist")
    try:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise MetadataError(
            f"entry file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None


def build_entries(sources: Iterable[tuple[str, Iterable[str]]]) -> tuple[list[str], BuildReport]:
    """Merge (source name, entries) in order: first occurrence wins, empty and single punctuation skipped."""
    seen: dict[str, None] = {}
    report = BuildReport()
    for name, entries in sources:
        before = len(seen)
        for entry in entries:
            if not entry or entry in _FORBIDDEN:
                report.skipped += 1
            elif entry in seen:
                report.duplicates += 1
            else:
                seen[entry] = None
        report.added[name] = len(seen) - before
    return list(seen), report


def build_metadata(
    wordnet: str | Path | None = None,
    unigrams: list[str | Path] = (),
    bigrams: list[str | Path] = (),
    titles: list[str | Path] = (),
    numbers: bool = True,
) -> tuple[list[str], BuildReport]:
    """The entry list from the given sources, in MetaCLIP's order."""
    sources: list[tuple[str, Iterable[str]]] = [("numbers", NUMBERS)] if numbers else []
    if wordnet is not None:
        sources.append(("wordnet", wordnet_entries(wordnet)))
    for kind, files in (("unigrams", unigrams), ("bigrams", bigrams), ("titles", titles)):
        for path in files:
            sources.append((f"{kind}:{Path(path).name}", read_lines(path)))
    if not sources:
        raise MetadataError("no sources: give --wordnet and/or --unigrams / --bigrams / --titles files")
    return build_entries(sources)


def write_metadata(entries: list[str], path: str | Path) -> Path:
    """Write `entries` as a JSON list of strings (MetaCLIP's `metadata.json`)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return path
