"""substring_dedup (ExactSubstr): every span of >= k tokens that occurs twice is cut from every document holding it.

The reference below finds repeated windows by comparing the window strings themselves (no hashing) and cuts the
union of their tokens; the stage, run through Ray, must give the same texts.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from curation.dedup.token_spans import hf_bounds, pretoken_bounds
from curation.recipe import parse_recipe
from curation.runner.run import run_recipe
from curation.text.words import count_words, count_words_or_chars

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "river",
    "stone",
    "window",
    "garden",
    "yellow",
    "market",
    "seven",
    "ladder",
    "cloud",
    "paper",
    "orange",
]


def reference_cut(texts: list[str], k: int, bounds=pretoken_bounds) -> list[str]:
    """Each text without the tokens of its k-token windows whose string occurs twice or more in `texts`."""
    tokens = [bounds(t).tolist() for t in texts]
    count = Counter(t[b[i] : b[i + k]] for t, b in zip(texts, tokens, strict=True) for i in range(len(b) - k))
    out = []
    for text, b in zip(texts, tokens, strict=True):
        covered = [False] * (len(b) - 1)
        for i in range(len(b) - k):
            if count[text[b[i] : b[i + k]]] >= 2:
                covered[i : i + k] = [True] * k
        out.append("".join(text[b[j] : b[j + 1]] for j in range(len(b) - 1) if not covered[j]))
    return out


def _prose(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _mark(i: int) -> str:
    """A word of letters only (one pre-token) that no other call returns: a unique neighbour for a span."""
    return "mark" + "".join(chr(ord("a") + int(d)) for d in str(i))


def _run(tmp_path, texts: list[str], name: str, **params) -> tuple[list[dict], dict]:
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), path)
    raw = {"name": name, "input": {"paths": [str(path)]}, "steps": [{"substring_dedup": params}]}
    result = run_recipe(parse_recipe(raw), output=str(tmp_path / name))
    rows = sorted(pads.dataset(tmp_path / name / "data").to_table().to_pylist(), key=lambda r: r["id"])
    assert result.stats["totals"]["identity_holds"]
    return rows, result.stats["steps"][-1]


def test_pretokens_are_gpt2s_with_unspaced_scripts_split_by_character():
    text = "Hello world's  test\n\n123 café—naïve x\u00a0y  "
    spans = [text[a:b] for a, b in zip(pretoken_bounds(text)[:-1], pretoken_bounds(text)[1:], strict=True)]
    assert spans == [
        "Hello",
        " world",
        "'s",
        " ",
        " test",
        "\n",
        "\n",
        "123",
        " café",
        "—",
        "naïve",
        " x",
    ] + [
        "\u00a0",
        "y",
        "  ",
    ]
    pre_tokenizers = pytest.importorskip("tokenizers.pre_tokenizers")
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    ends = [end for _, (_, end) in byte_level.pre_tokenize_str(text)]
    assert pretoken_bounds(text).tolist() == [0, *ends]
    # GPT-2's regex keeps a run of Han, kana or Thai letters as one pre-token; here each character is one
    mixed = "東京の天気 abc日本"
    bounds = pretoken_bounds(mixed)
    assert [mixed[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)] == [
        "東", "京", "の", "天", "気", " abc", "日", "本",
    ]  # fmt: skip
    assert count_words_or_chars(mixed) == 8 and count_words_or_chars("two words") == 2


def test_spans_at_and_above_the_threshold_are_cut_below_are_kept(ray_local, tmp_path):
    rng = random.Random(1)
    k = 20
    shared = {
        n: " " + _prose(rng, n) for n in (k - 1, k, k + 15)
    }  # n pre-tokens each (words with leading space)
    texts = []
    for n, span in shared.items():
        for copy in range(2):  # words unique to each copy around the span: the shared run is the span exactly
            texts.append(
                f"{_prose(rng, 60)} {_mark(2 * n + copy)}{span} {_mark(200 + 2 * n + copy)} {_prose(rng, 60)}"
            )
    texts.append(_prose(rng, 60))
    rows, stats = _run(tmp_path, texts, "threshold", min_tokens=k, min_words=10)
    got = [r["text"] for r in rows]
    assert got == reference_cut(texts, k)
    assert got[0:2] == texts[0:2]  # k - 1 tokens shared: nothing cut
    for i, n in ((2, k), (4, k + 15)):  # both copies lose the span (at least its n tokens)
        assert shared[n] not in got[i] and shared[n] not in got[i + 1]
        assert len(texts[i]) - len(got[i]) >= len(shared[n])
    assert got[6] == texts[6]
    assert stats["notes"] == {"substring_dedup:spans_cut": 4}
    assert stats["in"] == 7 and stats["out"] == 7


def test_repeats_inside_one_document_and_short_leftovers(ray_local, tmp_path):
    rng = random.Random(2)
    boiler = " " + _prose(rng, 30)
    texts = [
        f"{_prose(rng, 80)} {_mark(1)}{boiler} {_mark(2)} {_prose(rng, 40)} {_mark(3)}{boiler}",  # within itself
        f"{_prose(rng, 5)} {_mark(4)}{boiler}",  # shares the span too; 6 words left: dropped
        _prose(rng, 120),
        "",
        None,
    ]
    rows, stats = _run(tmp_path, texts, "inner", min_tokens=25, min_words=20)
    expected = reference_cut([t or "" for t in texts], 25)
    assert [r["id"] for r in rows] == [0, 2, 3, 4]
    assert [r["text"] for r in rows] == [expected[0], texts[2], "", None]
    assert boiler.strip() not in rows[0]["text"] and count_words(rows[0]["text"]) == 123
    assert stats["dropped"] == {"substring_dedup:too_short_after_cut": 1}
    assert stats["notes"] == {"substring_dedup:spans_cut": 1}


def test_chinese_spans_are_cut_by_character(ray_local, tmp_path):
    rng = random.Random(6)
    han = [chr(c) for c in range(0x4E00, 0x4E00 + 400)]
    shared = "".join(
        rng.choice(han) for _ in range(60)
    )  # 60 characters: 60 pre-tokens, one sentence for GPT-2
    texts = ["".join(rng.choice(han) for _ in range(80)) + "。" + shared + "。" for _ in range(2)]
    texts.append("".join(rng.choice(han) for _ in range(120)))
    rows, stats = _run(tmp_path, texts, "han", min_tokens=50)
    assert [r["text"] for r in rows] == reference_cut(texts, 50)
    assert all(shared not in r["text"] and len(r["text"]) >= 80 for r in rows[:2])
    assert stats["notes"] == {"substring_dedup:spans_cut": 2} and stats["dropped"] == {}  # 80 characters left


def test_tag_only_counts_the_characters_and_keeps_the_text(ray_local, tmp_path):
    rng = random.Random(3)
    span = " " + _prose(rng, 40)
    texts = [_prose(rng, 50) + span, span.strip() + " " + _prose(rng, 50), _prose(rng, 50)]
    rows, stats = _run(tmp_path, texts, "tags", min_tokens=30, tag_only=True)
    expected = reference_cut(texts, 30)
    assert [r["text"] for r in rows] == texts
    assert [r["substring_dup_chars"] for r in rows] == [
        len(t) - len(e) for t, e in zip(texts, expected, strict=True)
    ]
    assert rows[0]["substring_dup_chars"] > 0 and rows[2]["substring_dup_chars"] == 0
    assert stats["dropped"] == {} and stats["notes"] == {}


def test_invalid_utf8_is_a_counted_error(ray_local, tmp_path):
    rng = random.Random(4)
    span = " " + _prose(rng, 40)
    texts = [(_prose(rng, 60) + span).encode(), b"\xff\xfe broken", (span + " " + _prose(rng, 60)).encode()]
    path = tmp_path / "bytes.parquet"
    pq.write_table(pa.table({"text": pa.array(texts, pa.binary())}), path)
    raw = {"name": "b", "input": {"paths": [str(path)]}, "steps": [{"substring_dedup": {"min_tokens": 30}}]}
    result = run_recipe(parse_recipe(raw), output=str(tmp_path / "b"))
    step = result.stats["steps"][-1]
    assert step["errors"] == {"substring_dedup:non_utf8_text": 1}
    assert step["notes"] == {"substring_dedup:spans_cut": 2}
    assert result.stats["totals"]["identity_holds"]


def test_with_a_hugging_face_tokenizer_by_path(ray_local, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    rng = random.Random(5)
    texts = [_prose(rng, 200) for _ in range(4)]
    bpe = tokenizers.Tokenizer(tokenizers.models.BPE(unk_token="[UNK]"))
    bpe.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(texts, tokenizers.trainers.BpeTrainer(vocab_size=300, special_tokens=["[UNK]"]))
    folder = tmp_path / "tok"
    folder.mkdir()
    bpe.save(str(folder / "tokenizer.json"))
    span = " " + _prose(rng, 60)
    texts = [texts[0] + span, span.strip() + texts[1], texts[2], texts[3] + span]
    rows, stats = _run(tmp_path, texts, "hf", min_tokens=40, tokenizer=str(folder), min_words=10)
    expected = reference_cut(texts, 40, bounds=lambda t: hf_bounds(str(folder), t))
    assert [r["text"] for r in rows] == expected
    assert expected[0] != texts[0] and expected[2] == texts[2]
    assert stats["notes"] == {"substring_dedup:spans_cut": 3}


def test_missing_tokenizer_fails_before_the_run(ray_local, tmp_path):
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": "a"}) + "\n")
    raw = {
        "name": "t",
        "input": {"paths": [str(tmp_path / "in.jsonl")]},
        "steps": [{"substring_dedup": {"tokenizer": str(tmp_path / "nowhere" / "tokenizer.json")}}],
    }
    with pytest.raises(Exception, match="nowhere|tokenizer"):
        run_recipe(parse_recipe(raw), output=str(tmp_path / "out"))
    assert not (tmp_path / "out" / "data").exists()


@pytest.mark.slow
def test_matches_the_reference_on_real_web_text(ray_local, tmp_path, shared):
    """dolma's Common Crawl sample (717 documents, 2.7 MB): the stage equals the string-comparing reference."""
    import gzip

    texts = []
    for path in sorted(shared("cc_text").glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line)["text"] for line in fh]
    rows, stats = _run(tmp_path, texts, "cc", min_words=0)
    expected = reference_cut(texts, 50)
    assert [r["text"] for r in rows] == expected
    changed = sum(a != b for a, b in zip(texts, expected, strict=True))
    assert changed > 20 and stats["notes"] == {"substring_dedup:spans_cut": changed}
