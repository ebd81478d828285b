"""MetaCLIP's matching done literally: every entry searched as `" entry "` (all occurrences) in every spaced
caption, one string search per entry. The oracle `metaclip_match` is checked against (tests, benchmarks/metaclip.py)."""

from __future__ import annotations

import bisect
import itertools

from curation.balance.matching import spacing


def literal_matches(captions: list[str], entries: tuple[str, ...]) -> list[list[int]]:
    """Every entry searched (as `" entry "`, all occurrences) in the spaced captions: the literal check."""
    spaced = [spacing(c) for c in captions]
    assert not any("\0" in s for s in spaced)
    text = "\0".join(spaced)
    starts = list(itertools.accumulate((len(s) + 1 for s in spaced), initial=0))
    found: list[set[int]] = [set() for _ in captions]
    for entry_id, entry in enumerate(entries):
        pattern = f" {entry} "
        at = text.find(pattern)
        while at != -1:
            found[bisect.bisect_right(starts, at) - 1].add(entry_id)
            at = text.find(pattern, at + 1)
    return [sorted(f) for f in found]
