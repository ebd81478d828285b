"""Metadata entry lists: MetaCLIP's `metadata.json` (a JSON list of strings), or a folder of per-language lists.

A per-language folder (MetaCLIP 2) holds `<lang>.json` files, each a list of strings or an object whose keys are
the entries in order. Entry ids are positions in a list, so counts stay aligned with the user's own file: a
duplicate entry keeps the id of its first occurrence (the later ids never match), and empty entries never match.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

FALLBACK_LANG = "other"  # MetaCLIP 2's list for languages without their own


class MetadataError(ValueError):
    """A metadata file that cannot be used, with the file and the reason."""


@dataclass(frozen=True)
class EntryList:
    """One entry list; `duplicates` and `empty` count the entries that can never match (kept for id alignment)."""

    entries: tuple[str, ...]
    duplicates: int
    empty: int


def _parse(path: Path) -> EntryList:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise MetadataError(f"metadata {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise MetadataError(
            f"metadata {path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if isinstance(raw, dict):
        raw = list(raw)
    if not isinstance(raw, list):
        raise MetadataError(f"metadata {path}: expected a JSON list of strings, got {type(raw).__name__}")
    for i, entry in enumerate(raw):
        if not isinstance(entry, str):
            raise MetadataError(
                f"metadata {path}: entry {i} is {type(entry).__name__} {entry!r}, not a string"
            )
    empty = sum(not e.strip() for e in raw)
    if empty == len(raw):
        raise MetadataError(
            f"metadata {path}: holds no entries" + (f" ({empty} empty strings)" if empty else "")
        )
    return EntryList(tuple(raw), len(raw) - len(set(raw)), empty)


@functools.lru_cache(maxsize=8)
def _cached(path: str, stamp: tuple[int, int]) -> EntryList:
    return _parse(Path(path))


def load_list(path: str | Path) -> EntryList:
    """One entry list (cached per process, keyed by the file's mtime and size)."""
    path = Path(path)
    if not path.is_file():
        raise MetadataError(f"metadata file {path} does not exist (build one with `curate metadata build`)")
    st = os.stat(path)
    return _cached(str(path), (st.st_mtime_ns, st.st_size))


def list_files(metadata: str | Path) -> dict[str, Path]:
    """{list name: file}: `{"": file}` for a single list, `{lang: <lang>.json}` for a per-language folder."""
    metadata = Path(metadata)
    if metadata.is_dir():
        found = {p.stem: p for p in sorted(metadata.glob("*.json"))}
        if not found:
            raise MetadataError(f"metadata folder {metadata} holds no <lang>.json entry lists")
        return found
    if not metadata.exists():
        raise MetadataError(f"metadata {metadata} does not exist (build one with `curate metadata build`)")
    return {"": metadata}


def list_name(lang: str | None, names: set[str] | frozenset[str]) -> str | None:
    """The list a row of language `lang` is matched against: its own, else `other`, else none (no match)."""
    if "" in names:
        return ""
    if lang in names:
        return lang
    return FALLBACK_LANG if FALLBACK_LANG in names else None


def load_all(metadata: str | Path) -> dict[str, EntryList]:
    """Every list of `metadata`, validated (for checking a recipe before it runs)."""
    return {name: load_list(path) for name, path in list_files(metadata).items()}
