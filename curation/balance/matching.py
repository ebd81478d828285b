"""MetaCLIP's substring matching: a caption matches an entry when the entry occurs in it between spaces.

The caption is wrapped in spaces, `, . ; : ? ! `` ` get a space on each side and tab, newline and carriage return
become spaces; an entry matches where `" entry "` occurs in that text (case-sensitive unless `lowercase`). For
per-language lists (MetaCLIP 2, `entry_spacing: script`) the space before / after an entry is left out where its
first / last character is CJK-like (Han, Thai, Lao, Burmese, Khmer, Tibetan) or punctuation. All entries are found
in one pass with an Aho-Corasick automaton (pyahocorasick), built once per worker.
"""

from __future__ import annotations

import array
import dataclasses
import string
from collections.abc import Iterable

import ahocorasick
import numpy as np
import pyarrow as pa

from curation.balance.entries import EntryList, list_files, list_name, load_all, load_list
from curation.ops.base import Mapper, register
from curation.rows import ERROR, add_marks, set_column

MATCHED = "matched_entries"
SPACINGS = ("auto", "always", "script")
_SPACING = str.maketrans({**{p: f" {p} " for p in ",.;:?!`"}, **{c: " " for c in "\t\n\r"}})
_EXTRA_PUNCTUATION = frozenset("，。、；：？¿！“”‘’（）【】《》〈〉「」『』～—")
_SCRIPT_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF), (0x2CEB0, 0x2EBEF), (0xF900, 0xFAFF), (0x2E80, 0x2EFF), (0x2F00, 0x2FDF),
    (0x2FF0, 0x2FFF), (0x0E00, 0x0E7F), (0x0E80, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x0F00, 0x0FFF),
)  # fmt: skip


def spacing(text: str) -> str:
    """MetaCLIP's text spacing: wrapped in spaces, `,.;:?!`` ` spaced out, tab / newline / CR as spaces."""
    return f" {text} ".translate(_SPACING)


def _unspaced(char: str) -> bool:
    """Whether an entry edge with this character needs no space (CJK-like script or punctuation)."""
    if char in string.punctuation or char in _EXTRA_PUNCTUATION:
        return True
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in _SCRIPT_RANGES)


def spaced_entry(entry: str, script_aware: bool) -> str:
    """The pattern an entry is searched as: `" entry "`, or with `script_aware` no space at a CJK-like edge."""
    if not script_aware:
        return f" {entry} "
    return ("" if _unspaced(entry[0]) else " ") + entry + ("" if _unspaced(entry[-1]) else " ")


def build_automaton(entries: Iterable[str], lowercase: bool = False, script_aware: bool = False):
    """An Aho-Corasick automaton whose values are entry ids; a repeated pattern keeps its first id."""
    automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    for index, entry in enumerate(entries):
        if not entry.strip():
            continue
        pattern = spaced_entry(entry.lower() if lowercase else entry, script_aware)
        if pattern not in automaton:
            automaton.add_word(pattern, index)
    automaton.make_automaton()
    return automaton


def match_ids(automaton, text: str, lowercase: bool = False) -> list[int]:
    """Sorted ids of the entries matched in `text` (each once)."""
    spaced = spacing(text.lower() if lowercase else text)
    return sorted({entry for _, entry in automaton.iter(spaced)})


def _string_values(batch: pa.Table, column: str) -> tuple[list[str | None], str | None]:
    """The caption values, or None and the reason every row fails (missing or non-text column)."""
    if column not in batch.column_names:
        return [], f"missing_column_{column}"
    values = batch.column(column)
    if pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type):
        try:
            values = values.cast(pa.string())  # validates UTF-8
        except pa.ArrowInvalid:
            return [], "undecodable_caption"
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return [], "non_string_caption"
    return values.to_pylist(), None


@register("metaclip_match")
@dataclasses.dataclass
class MetaclipMatch(Mapper):
    """Match captions against MetaCLIP metadata entries; writes `matched_entries` (list<int32> of entry ids).

    `metadata` is a JSON list of strings (MetaCLIP's `metadata.json`, or `curate metadata build` output) or a
    folder of `<lang>.json` lists (MetaCLIP 2): then each row uses the list of its `lang_column` value, else
    `other.json`, else matches nothing. Case-sensitive unless `lowercase: true`. `entry_spacing`: `always`
    (MetaCLIP: spaces around every entry), `script` (MetaCLIP 2: none at CJK-like or punctuation edges), `auto`
    (`script` for a per-language folder). Null captions are errors `null_caption`; a missing or non-text
    column makes every row an error naming it.
    """

    requires = ("{column}",)
    provides = (MATCHED,)

    metadata: str = ""
    column: str = "caption"
    lowercase: bool = False
    lang_column: str = "lang"
    entry_spacing: str = "auto"
    _automata: dict = dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)

    def validate(self) -> None:
        if not self.metadata:
            raise ValueError("metadata: give a metadata.json (or a folder of <lang>.json lists)")
        if self.entry_spacing not in SPACINGS:
            raise ValueError(f"entry_spacing must be one of {', '.join(SPACINGS)}")
        load_all(self.metadata)

    def setup(self) -> None:
        self._files = list_files(self.metadata)
        if "" in self._files:
            self._automaton_for("")

    def _script_aware(self) -> bool:
        return self.entry_spacing == "script" or (self.entry_spacing == "auto" and "" not in self._files)

    def _automaton_for(self, name: str):
        automaton = self._automata.get(name)
        if automaton is None:
            entries: EntryList = load_list(self._files[name])
            automaton = build_automaton(entries.entries, self.lowercase, self._script_aware())
            self._automata[name] = automaton
        return automaton

    def _row_lists(self, batch: pa.Table) -> list[str | None]:
        """The entry list each row is matched against (None: no list for its language)."""
        names = frozenset(self._files)
        if "" in names or self.lang_column not in batch.column_names:
            return [list_name(None, names)] * batch.num_rows
        return [list_name(lang, names) for lang in batch.column(self.lang_column).to_pylist()]

    def _match_all(self, texts: list[str | None], lists: list[str | None]) -> tuple[pa.ListArray, list]:
        """`matched_entries` of every text (ids collected in a C int array: no Python list of every id), and
        the per-row error (`null_caption`) or None."""
        offsets, flat, errors = array.array("i", [0]), array.array("i"), [None] * len(texts)
        lowercase, add, end = self.lowercase, flat.extend, offsets.append
        if len(set(lists)) == 1 and lists[0] is not None:  # one list for the batch: the loop MetaCLIP runs
            automaton = self._automaton_for(lists[0])
            for i, text in enumerate(texts):
                if text is None:
                    errors[i] = "null_caption"
                else:
                    add(match_ids(automaton, text, lowercase))
                end(len(flat))
        else:
            for i, (text, name) in enumerate(zip(texts, lists, strict=True)):
                if text is None:
                    errors[i] = "null_caption"
                elif name is not None:
                    add(match_ids(self._automaton_for(name), text, lowercase))
                end(len(flat))
        values = pa.array(np.frombuffer(flat, np.int32)) if flat else pa.array([], pa.int32())
        return pa.ListArray.from_arrays(pa.array(np.frombuffer(offsets, np.int32)), values), errors

    def map(self, batch: pa.Table) -> pa.Table:
        if not hasattr(self, "_files"):
            self.setup()
        texts, failure = _string_values(batch, self.column)
        n = batch.num_rows
        if failure:
            batch = set_column(batch, MATCHED, pa.nulls(n, pa.list_(pa.int32())))
            return set_column(batch, ERROR, pa.array([failure] * n, pa.string()))
        matched, errors = self._match_all(texts, self._row_lists(batch))
        null = pa.array([e is not None for e in errors]) if any(errors) else None
        if null is not None:
            matched = pa.ListArray.from_arrays(matched.offsets, matched.values, mask=null)
        batch = set_column(batch, MATCHED, matched)
        if null is not None:
            batch = add_marks(batch, ERROR, errors)
        return batch
