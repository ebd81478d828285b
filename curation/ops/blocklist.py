"""UT1 blocklists (Université Toulouse 1 Capitole): read them, and look domains and URLs up in them fast.

UT1's layout is a directory or tarball of categories, `[blacklists/]<category>/domains` and `<category>/urls`,
one entry per line (URLs without scheme). RefinedWeb (Penedo et al. 2023, section G.1) blocks the categories in
`REFINEDWEB_CATEGORIES`. A flat `domains` / `urls` pair (an already merged list, as datatrove ships) is read whole.
Entries are kept as sorted 64-bit hashes (8 bytes each), so the 4.6M-domain list stays small in every worker.
"""

from __future__ import annotations

import importlib.util
import os
import tarfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import xxhash

from curation.io.atomic import atomic_path

REFINEDWEB_CATEGORIES = (
    "adult",
    "phishing",
    "dating",
    "gambling",
    "filehosting",
    "ddos",
    "agressif",
    "chat",
    "mixed_adult",
    "arjel",
)
UT1_ENV = "MMCURATE_UT1"  # a UT1 directory or tarball to use for `blocklist: ut1`
CACHE_ENV = "MMCURATE_CACHE"  # where hashed blocklists are kept between runs (default ~/.cache/mmcurate)


def _entries(lines: Iterable[bytes]) -> Iterator[str]:
    for raw in lines:
        line = raw.decode("utf-8", "replace").strip().lower()
        if line and not line.startswith("#"):
            yield line


def _member_kind(parts: tuple[str, ...], categories: set[str]) -> str | None:
    """`domains` or `urls` when this path is a list to read (a selected category's, or a flat list)."""
    if not parts or parts[-1] not in ("domains", "urls"):
        return None
    if len(parts) == 1 or (len(parts) == 2 and parts[0] == "blacklists"):
        return parts[-1]  # a flat, already merged list
    return parts[-1] if parts[-2] in categories else None


def ut1_categories(source: Path) -> list[str]:
    """The categories of a UT1 directory or tarball; none for a flat, already merged list."""
    if source.is_dir():
        paths = [path.relative_to(source).parts for path in source.rglob("*") if path.is_file()]
    else:
        with tarfile.open(source) as tar:
            paths = [Path(member.name).parts for member in tar if member.isfile()]
    return sorted(
        {
            parts[-2]
            for parts in paths
            if parts[-1] in ("domains", "urls") and _member_kind(parts, set()) is None
        }
    )


def iter_ut1(
    source: str | Path, categories: Iterable[str] = REFINEDWEB_CATEGORIES
) -> Iterator[tuple[str, str]]:
    """(`domains` or `urls`, entry) of the selected categories of a UT1 directory or tarball (.tar, .tar.gz)."""
    source, wanted = Path(source), set(categories)
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            kind = _member_kind(path.relative_to(source).parts, wanted) if path.is_file() else None
            if kind:
                with path.open("rb") as f:
                    yield from ((kind, e) for e in _entries(f))
    elif source.is_file() and tarfile.is_tarfile(source):
        with tarfile.open(source) as tar:
            for member in tar:
                kind = _member_kind(Path(member.name).parts, wanted) if member.isfile() else None
                if kind:
                    yield from ((kind, e) for e in _entries(tar.extractfile(member)))
    else:
        raise ValueError(f"UT1 blocklist {str(source)!r} is neither a directory nor a tarball")


def read_ut1(
    source: str | Path, categories: Iterable[str] = REFINEDWEB_CATEGORIES
) -> tuple[list[str], list[str]]:
    """(domains, urls) of the selected categories; an error when they hold none."""
    found: dict[str, list[str]] = {"domains": [], "urls": []}
    for kind, entry in iter_ut1(source, categories):
        found[kind].append(entry)
    if not found["domains"] and not found["urls"]:
        raise ValueError(
            f"UT1 blocklist {str(source)!r} has no domains/urls lists for categories {sorted(categories)}"
        )
    return found["domains"], found["urls"]


def installed_ut1() -> Path:
    """The UT1 copy to use for `blocklist: ut1`: $MMCURATE_UT1, else the merged copy datatrove ships."""
    if os.environ.get(UT1_ENV):
        return Path(os.environ[UT1_ENV])
    spec = importlib.util.find_spec("datatrove")
    if spec and spec.submodule_search_locations:
        shipped = (
            Path(next(iter(spec.submodule_search_locations))) / "assets" / "url_filterblacklistsv0_3_0.tar.gz"
        )
        if shipped.is_file():
            return shipped
    raise ValueError(f"blocklist: ut1 needs a UT1 copy: install datatrove (it ships one) or set {UT1_ENV}")


def _cache_file(source: Path, categories: Iterable[str]) -> Path:
    """The cache entry of one UT1 source (path, size, mtime) and category selection."""
    stat = source.stat()
    key = xxhash.xxh3_64_hexdigest(
        repr((str(source.resolve()), stat.st_size, stat.st_mtime_ns, sorted(categories))).encode()
    )
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mmcurate")
    return root / f"ut1-{key}.npz"


def ut1_cached(source: Path, categories: Iterable[str]) -> bool:
    """Whether a tarball's hashed sets for `categories` are in the cache (its categories were read once then)."""
    return source.is_file() and _cache_file(source, categories).is_file()


def hashed_ut1(
    source: str | Path, categories: Iterable[str], normalise_url: Callable[[str], str]
) -> tuple[HashedSet, HashedSet]:
    """(domains, urls) of a UT1 source as hashed sets. A tarball's hashes are cached (see `CACHE_ENV`), so only
    the first load of a 4.6M-domain list reads it (~20 CPU s); later loads take milliseconds."""
    source = Path(source)
    cache = _cache_file(source, categories) if source.is_file() else None
    if cache is not None and cache.is_file():
        with np.load(cache) as saved:
            return tuple(HashedSet.of_hashes(saved[k], is_sorted_unique=True) for k in ("domains", "urls"))
    domains, urls = _read_hashed(source, categories, normalise_url)
    if cache is not None:
        with atomic_path(cache) as tmp, open(tmp, "wb") as f:
            np.savez(f, domains=domains._hashes, urls=urls._hashes)
    return domains, urls


def _read_hashed(
    source: Path, categories: Iterable[str], normalise_url: Callable[[str], str]
) -> tuple[HashedSet, HashedSet]:
    """Stream a UT1 source into hashed sets: only the 8-byte hashes are ever held."""
    found = {"domains": array("Q"), "urls": array("Q")}
    for kind, entry in iter_ut1(source, categories):
        found[kind].append(xxhash.xxh3_64_intdigest(_utf8(normalise_url(entry) if kind == "urls" else entry)))
    if not found["domains"] and not found["urls"]:
        raise ValueError(
            f"UT1 blocklist {str(source)!r} has no domains/urls lists for categories {sorted(categories)}"
        )
    return (
        HashedSet.of_hashes(np.frombuffer(found["domains"], dtype=np.uint64)),
        HashedSet.of_hashes(np.frombuffer(found["urls"], dtype=np.uint64)),
    )


def _sorted_unique(hashes: np.ndarray) -> np.ndarray:
    hashes = np.sort(hashes)
    return hashes[np.concatenate(([True], hashes[1:] != hashes[:-1]))] if len(hashes) else hashes


def _utf8(key: str) -> bytes:
    """UTF-8 bytes of a key (xxhash >= 4 hashes bytes only; a lone surrogate from a bad URL passes through)."""
    return key.encode("utf-8", "surrogatepass")


def _hash(keys: Iterable[str]) -> np.ndarray:
    return np.fromiter((xxhash.xxh3_64_intdigest(_utf8(k)) for k in keys), dtype=np.uint64)


class HashedSet:
    """A set of strings held as sorted 64-bit hashes; membership of many keys in one vectorised pass."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._hashes = _sorted_unique(_hash(keys))

    @classmethod
    def of_hashes(cls, hashes: np.ndarray, *, is_sorted_unique: bool = False) -> HashedSet:
        out = cls()
        hashes = np.asarray(hashes, dtype=np.uint64)
        out._hashes = hashes if is_sorted_unique else _sorted_unique(hashes)
        return out

    def union(self, keys: Iterable[str]) -> HashedSet:
        extra = _hash(keys)
        return HashedSet.of_hashes(np.concatenate([self._hashes, extra])) if len(extra) else self

    def __len__(self) -> int:
        return len(self._hashes)

    @property
    def nbytes(self) -> int:
        return self._hashes.nbytes

    def contains(self, keys: list[str]) -> np.ndarray:
        """Per key, whether it is in the set (a false positive needs a 64-bit hash collision)."""
        if not len(self._hashes) or not keys:
            return np.zeros(len(keys), dtype=bool)
        h = _hash(keys)
        pos = np.minimum(np.searchsorted(self._hashes, h), len(self._hashes) - 1)
        return self._hashes[pos] == h
