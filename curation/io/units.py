"""Work units: the pieces of input that are read, processed and recorded independently (the resume grain)."""

from __future__ import annotations

import glob
import json
import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 1 << 20  # of a gzip file, searched for a member that inflates


@dataclass(frozen=True)
class Unit:
    """A file, or a byte range [start, end) of one, in a format the readers know."""

    index: int
    path: str
    format: str  # warc | arc | jsonl | parquet
    start: int = 0
    end: int = -1  # -1: to the end of the file
    row_group: int = -1  # parquet: one row group, or -1 for the whole file

    @property
    def key(self) -> str:
        return f"u{self.index:08d}"

    def to_dict(self) -> dict:
        return asdict(self)


class InputError(ValueError):
    """The recipe's input cannot be read (missing paths, unknown format)."""


def expand_paths(patterns: list[str]) -> list[str]:
    """Expand globs; every pattern must match at least one file (a folder is an error that suggests a glob).
    Absolute paths (a plan read later, from another folder, still finds them), each once, sorted per pattern, so
    plans are deterministic."""
    files: list[str] = []
    for pattern in patterns:
        found = glob.glob(str(Path(pattern).expanduser()), recursive=True)
        matched = sorted(os.path.abspath(p) for p in found if Path(p).is_file())
        # a folder is not read whole: say which files
        if not matched and any(Path(p).is_dir() for p in found):
            what = "is a folder" if Path(pattern).expanduser().is_dir() else "matches only folders"
            example = f"{pattern.rstrip('/')}/*"
            raise InputError(f"input path {pattern!r} {what}: name its files with a glob, e.g. {example!r}")
        if not matched:
            raise InputError(f"input path {pattern!r} matches no file")
        files.extend(matched)
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))]


def resolved_paths(files: list[str]) -> list[str]:
    """`files` as the files they are (absolute, every link followed): what identifies a run's input, however its
    patterns were spelled."""
    return [os.path.realpath(f) for f in files]


def sniff_format(path: str) -> str:
    """Tell WARC, ARC, JSONL, parquet and tar (WebDataset) apart by content (gzip is looked through)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
        if head[:2] == GZIP_MAGIC:
            head = _inflated_head(head + fh.read(SNIFF_BYTES))
            if not head:
                return "unknown"
    if head[:4] == b"PAR1":
        return "parquet"
    if head[257:262] == b"ustar":
        return "webdataset"
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"WARC/"):
        return "warc"
    if stripped.startswith(b"filedesc://"):
        return "arc"
    if stripped.startswith(b"{") or _holds_json_object_line(stripped):
        return "jsonl"
    if not head:
        return "empty"
    return "unknown"


def _inflated_head(raw: bytes) -> bytes:
    """The first 4 KiB that inflate from gzip data: from the first member, or, when it is broken before giving
    anything, from the next member that does."""
    pos = 0
    while pos >= 0:
        out, inflater = bytearray(), zlib.decompressobj(wbits=31)
        try:
            for i in range(pos, len(raw), 512):
                out += inflater.decompress(raw[i : i + 512], 4096)
                if len(out) >= 4096 or inflater.eof:
                    break
        except zlib.error:
            pass
        if out:
            return bytes(out[:4096])
        pos = raw.find(GZIP_MAGIC + b"\x08", pos + 1)
    return b""


def _holds_json_object_line(head: bytes) -> bool:
    """Whether one of the first complete lines is a JSON object (JSONL behind a garbage first line)."""
    for line in head.split(b"\n")[:-1][:20]:
        if line.lstrip().startswith(b"{"):
            try:
                if isinstance(json.loads(line), dict):
                    return True
            except (ValueError, RecursionError):
                continue
    return False
