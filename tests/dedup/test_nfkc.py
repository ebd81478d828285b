"""NFKC + lower case of a batch, checked against Python's `unicodedata` on text built from troublesome code points."""

from __future__ import annotations

import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.dedup.nfkc import NOT_YES, nfkc_lower, quick_check_classes

# ASCII; combining marks of several classes (some compose, some do not, some are deprecated); Hangul jamo and
# syllables; Indic and Thai signs, some of which compose with the letter before them; compatibility characters
# (ligatures, fullwidth, superscripts, ellipsis, spaces); letters whose lower case is not ASCII; above the BMP.
POOL = list("aAeEoOzZ .,-9") + [
    *"\u0300\u0301\u0308\u0316\u0323\u0327\u031b\u0340\u0344\u0345\u05b0\u0f71\u0f72\u0f73\u0f80",
    *"\u1100\u1161\u11a8\uac00\uac01\u3131",
    *"\u0b95\u0bbe\u0bc6\u0bcd\u09c7\u09be\u0cbf\u0cd5\u0e01\u0e33\u0e48\u0915\u093c\u0958",
    *"\ufb01\u2026\u00b2\u00ba\uff21\uff0c\u3000\u00a0\u2460\u33a1\u1e9b\u212b\u2126\u00c5\u0041\u030a",
    *"\u03a3\u0130\u0401\u1e9e\u00df\u00e9",
    "\U0001d400",
    "\U0001f600",
    "\U0001d15e",
    "\U000110ab",
    "\U000110ba",
]


def _expected(texts: list[str | None]) -> list[str]:
    nfkc = [unicodedata.normalize("NFKC", t or "") for t in texts]
    return pc.utf8_lower(pa.array(nfkc, pa.large_string())).to_pylist()


def test_nfkc_lower_equals_python_nfkc_then_arrow_lower_on_random_troublesome_text():
    rng = np.random.default_rng(0)
    texts: list[str | None] = [
        "".join(POOL[i] for i in rng.integers(0, len(POOL), rng.integers(0, 12))) for _ in range(4000)
    ]
    texts[::97] = [None] * len(texts[::97])
    assert sum(not unicodedata.is_normalized("NFKC", t or "") for t in texts) > 1000
    for lo in range(0, len(texts), 500):
        batch = texts[lo : lo + 500]
        assert nfkc_lower(pa.array(batch, pa.string())).to_pylist() == _expected(batch)
    sliced = pa.array(texts[:600], pa.large_string()).slice(37, 400)
    assert nfkc_lower(sliced).to_pylist() == _expected(texts[37:437])


def test_quick_check_table_marks_only_code_points_nfkc_leaves_alone_and_never_composes_backward():
    second = set()  # second halves of canonical pairs anywhere in the code space, not only in the BMP
    for cp in range(0x110000):
        parts = unicodedata.decomposition(chr(cp)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            second.add(int(parts[1], 16))
    classes = quick_check_classes()
    yes = np.flatnonzero(classes != NOT_YES).tolist()
    assert 50_000 < len(yes) < 65_536
    for cp in yes:
        ch = chr(cp)
        assert unicodedata.normalize("NFKC", ch) == ch and cp not in second, hex(cp)
        assert classes[cp] == unicodedata.combining(ch), hex(cp)
