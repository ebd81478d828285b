"""MetaCLIP's keep rule: entry e keeps a row with probability t / max(count_e, t); a row is kept when any of its
matched entries passes its own draw. Draws come from (seed, uid, list, entry), so decisions do not depend on
workers, nodes or resume.

Per-language lists (MetaCLIP 2): `t` is the primary language's threshold; every other language gets the t at
which the same share of its matches falls in entries counted below t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from curation.balance.counts import Counts
from curation.balance.entries import list_name
from curation.rows import ORDER
from curation.stagekit.hashing import mix64

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def tail_share(counts: np.ndarray, t: float) -> float:
    """Share of all matches that fall in entries counted below `t` (MetaCLIP 2's p for a given t)."""
    total = counts.sum()
    return float(counts[counts < t].sum() / total) if total else 0.0


def t_for_share(counts: np.ndarray, share: float) -> float:
    """The count at which the cumulative share of matches (entries sorted by count) is nearest `share`."""
    ordered = np.sort(counts)
    total = ordered.sum()
    if not total:
        return 1.0
    portion = np.cumsum(ordered) / total
    return float(max(1, ordered[int(np.abs(portion - share).argmin())]))


def thresholds(counts: Counts, t: float, primary: str) -> dict[str, float]:
    """t per list: `t` for the single list or the primary language; derived by tail share for the others."""
    if primary not in counts or not counts[primary].sum():
        return dict.fromkeys(counts, float(t))
    share = tail_share(counts[primary], t)
    return {name: float(t) if name == primary else t_for_share(c, share) for name, c in counts.items()}


def keep_probabilities(counts: Counts, ts: dict[str, float]) -> dict[str, np.ndarray]:
    """t / max(count, t) per entry, per list."""
    return {name: ts[name] / np.maximum(c.astype(np.float64), ts[name]) for name, c in counts.items()}


@dataclass(frozen=True)
class Matches:
    """The matched entries of a batch, flattened: entry id, its row, and its list's index in `names`."""

    ids: np.ndarray
    rows: np.ndarray
    lists: np.ndarray
    names: tuple[str, ...]
    matched_rows: np.ndarray  # bool per row: at least one match


def batch_matches(batch: pa.Table, column: str, lang_column: str, names: tuple[str, ...]) -> Matches:
    """Flatten `column` (list<int>) of a batch; each row's list follows its language (see `list_name`)."""
    values = batch.column(column).combine_chunks() if batch.num_rows else pa.array([], pa.list_(pa.int32()))
    ids = pc.list_flatten(values).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = pc.list_parent_indices(values).to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy(zero_copy_only=False)
    index = {name: i for i, name in enumerate(names)}
    if "" in index or lang_column not in batch.column_names:
        code = index.get(list_name(None, frozenset(names)), -1)
        row_lists = np.full(batch.num_rows, code, np.int64)
    else:
        wanted = [list_name(lang, frozenset(names)) for lang in batch.column(lang_column).to_pylist()]
        row_lists = np.array([index.get(w, -1) if w is not None else -1 for w in wanted], np.int64)
    lists = row_lists[rows]
    usable = lists >= 0
    matched = (lengths > 0) & (row_lists >= 0)
    return Matches(ids[usable], rows[usable], lists[usable], names, matched)


def uid_hashes(batch: pa.Table, uid_column: str, seed: int) -> np.ndarray:
    """64-bit hash per row of (seed, uid); without a uid column (or for a null uid) the row's `_order`."""
    orders = batch.column(ORDER).to_numpy().astype(np.uint64)
    seed_mix = mix64(np.array([seed], np.uint64))[0]
    out = mix64(orders ^ seed_mix)
    if uid_column not in batch.column_names:
        return out
    values = batch.column(uid_column)
    if pa.types.is_integer(values.type):
        ints = pc.fill_null(values, 0).to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint64)
        valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
        return np.where(valid, mix64(mix64(ints) ^ seed_mix), out)
    for i, uid in enumerate(values.to_pylist()):
        if uid is not None:
            raw = uid if isinstance(uid, bytes) else str(uid).encode()
            out[i] = xxhash.xxh3_64_intdigest(raw, seed=seed & 0xFFFFFFFFFFFFFFFF)
    return out


def draws(matches: Matches, row_hashes: np.ndarray) -> np.ndarray:
    """A uniform [0, 1) draw per (row, list, entry) match."""
    list_salts = np.array([xxhash.xxh3_64_intdigest(n.encode()) for n in matches.names], np.uint64)
    with np.errstate(over="ignore"):
        key = row_hashes[matches.rows] ^ mix64(
            (matches.ids.astype(np.uint64) + np.uint64(1)) * _GOLDEN + list_salts[matches.lists]
        )
    return (mix64(key) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def entry_probabilities(matches: Matches, probs: dict[str, np.ndarray]) -> np.ndarray:
    """The keep probability of each match's entry."""
    out = np.empty(len(matches.ids), np.float64)
    for i, name in enumerate(matches.names):
        sel = matches.lists == i
        out[sel] = probs[name][matches.ids[sel]]
    return out


def decide(
    matches: Matches, probs: dict[str, np.ndarray], row_hashes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(kept per row, passed per match): a match passes when its draw is below its entry's probability."""
    passed = draws(matches, row_hashes) < entry_probabilities(matches, probs)
    kept = np.bincount(matches.rows[passed], minlength=len(row_hashes)) > 0
    return kept, passed


def expected_rows(matches: Matches, probs: dict[str, np.ndarray]) -> float:
    """Sum over rows of 1 - prod(1 - p_e): the expected number of kept rows."""
    p = entry_probabilities(matches, probs)
    with np.errstate(divide="ignore"):
        log_miss = np.log1p(-np.minimum(p, 1.0))
    per_row = np.bincount(matches.rows, weights=log_miss, minlength=len(matches.matched_rows))
    return float(np.sum(-np.expm1(per_row)))
