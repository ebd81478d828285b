"""RefinedWeb's line-wise corrections (`refinedweb_lines`): each rule on constructed lines, the 5 % document rule at
its boundary, notes and drops through Ray, and `pipelines/refinedweb.yaml` on the bundled demo WARC."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from curation.ops.refinedweb import RefinedWebLines, count_upper
from curation.recipe import load_recipe, parse_recipe
from curation.rows import DROP, NOTE
from curation.runner.run import run_recipe
from curation.text.words import count_words, count_words_or_chars

DEMO_WARC = Path(__file__).resolve().parents[2] / "data" / "warc" / "demo.warc.gz"
PROSE = "The committee met on Tuesday to discuss the new budget for the city library and its branches."


@pytest.mark.parametrize(
    ("line", "corrected"),
    [
        ("BREAKING NEWS: STORM HITS COAST", ""),  # mainly upper case
        ("NASA and the ESA launched a probe to Jupiter on Friday.", None),  # acronyms, mostly lower case
        ("2024", ""),  # numbers only
        ("12 345", ""),
        ("3 likes", ""),  # counters
        ("1.2K shares", ""),
        ("  12,004 views ·", ""),
        ("1 comment", ""),
        ("3 likes and a long discussion about the match", None),  # a sentence that starts with a count
        ("Introduction", ""),  # one word
        ("  • Default", ""),  # a bullet is not a word
        ("Sign-in to see your orders", "to see your orders"),  # prefix pattern
        ("Our new store opens on Monday. Read more...", "Our new store opens on Monday."),  # suffix pattern
        ("You have 3 items in cart now", "You have 3 now"),  # anywhere
        ("Sign in", ""),  # edited to nothing: removed
        ("Sign in Sign in to your account", "to your account"),  # edited until nothing matches
        ("Log in Basket", ""),  # edited to one word: removed
        # over 10 words: the patterns are left alone
        ("Please sign in at the front desk when you arrive for the morning session.", None),
        ("The council voted to read more reports before deciding on the plan next month, read more", None),
        ("    indented code line = value", None),  # nothing matched: kept byte for byte
    ],
)  # fmt: skip
def test_each_line_rule(line, corrected):
    assert RefinedWebLines().correct_line(line) == (line if corrected is None else corrected)


def test_word_and_upper_case_counts_equal_their_plain_definitions():
    """`count_words` (one regex) and `count_upper` (bytes.translate on ASCII lines) against the per-character
    definitions, on random lines of letters, digits, marks, underscores and Unicode spaces."""
    rng = random.Random(0)
    alphabet = "aZ9_ -•.\t\u00a0é漢Ⅷ²\u2003ǅ"
    for _ in range(20_000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert count_words(line) == sum(any(c.isalnum() for c in token) for token in line.split())
        assert count_upper(line) == sum(c.isupper() for c in line)
    assert count_words("• Pro – 42 x") == 3 and count_words("") == 0


def _document(junk_lines: int) -> str:
    """Twenty lines of prose (340 words) and `junk_lines` one-word lines after them."""
    return "\n".join([PROSE] * 20 + ["Advertisement"] * junk_lines)


def test_a_document_losing_over_5_percent_of_its_words_is_dropped():
    op = RefinedWebLines()
    words = count_words(_document(0))
    within = int(0.05 * words / 0.95)  # junk lines that stay at or under 5 % of the document's words
    table = op.evaluate(pa.table({"text": [_document(within), _document(within + 1), PROSE, None]}))
    assert count_words(_document(within)) * 0.05 >= within
    assert count_words(_document(within + 1)) * 0.05 < within + 1
    assert table.column(DROP).to_pylist() == [None, "too_many_corrections", None, None]
    assert table.column(NOTE).to_pylist() == ["lines_corrected", None, None, None]
    assert table.column("text").to_pylist()[0] == _document(0)  # the removed lines leave no blank line
    assert table.column("text").to_pylist()[2] == PROSE
    assert table.column("_error").to_pylist() == [None, None, None, "null_text"]
    tagged = RefinedWebLines(tag_only=True).evaluate(pa.table({"text": [_document(within)]}))
    assert tagged.column("text").to_pylist() == [_document(within)]


def test_lines_of_chinese_or_japanese_are_not_taken_for_one_word():
    """Each character of a script written without spaces is a word, so such prose is neither removed line by line
    nor dropped, and a lone character is still a one-word line."""
    doc = "\n".join(["今天天气很好，我们去公园散步。", "東京の天気は晴れです。", "สวัสดีครับ ยินดีต้อนรับ"] * 10)
    table = RefinedWebLines().evaluate(pa.table({"text": [doc, f"{doc}\n好"]}))
    assert table.column(DROP).to_pylist() == [None, None]
    assert table.column("text").to_pylist() == [doc, doc]
    assert table.column(NOTE).to_pylist() == [None, "lines_corrected"]


def test_blank_lines_stay_and_patterns_are_parameters():
    op = RefinedWebLines(max_removed_share=1.0, suffix_patterns=["continue reading"], prefix_patterns=[])
    text = f"{PROSE}\n\nOur store opens on Monday. Continue reading\n\nSign in to comment below now"
    out = op.evaluate(pa.table({"text": [text]})).column("text").to_pylist()[0]
    assert out == f"{PROSE}\n\nOur store opens on Monday.\n\nSign in to comment below now"
    with pytest.raises(ValueError, match="max_removed_share"):
        RefinedWebLines(max_removed_share=1.5).validate()
    with pytest.raises(ValueError, match="anywhere_patterns"):
        RefinedWebLines(anywhere_patterns=["cart", " "]).validate()


def test_notes_and_drops_through_ray(ray_local, tmp_path):
    rows = [{"id": str(i), "text": _document(i % 3) if i % 5 else _document(40)} for i in range(30)]
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = parse_recipe({"name": "rw", "input": {"paths": [str(src)]}, "steps": [{"refinedweb_lines": {}}]})
    result = run_recipe(recipe, output=str(tmp_path / "out"))
    step = next(s for s in result.stats["steps"] if s["step"] == "refinedweb_lines")
    dropped = sum(i % 5 == 0 for i in range(30))
    corrected = sum(bool(i % 5 and i % 3) for i in range(30))
    assert step["dropped"] == {"refinedweb_lines:too_many_corrections": dropped}
    assert step["notes"] == {"refinedweb_lines:lines_corrected": corrected}
    assert result.stats["totals"]["identity_holds"]
    texts = pads.dataset(result.output / "data").to_table().column("text").to_pylist()
    assert len(texts) == 30 - dropped and set(texts) == {_document(0)}


def test_refinedweb_recipe_corrects_lines_after_the_document_rules(ray_local, tmp_path):
    recipe = load_recipe("pipelines/refinedweb.yaml", [f"input.paths=['{DEMO_WARC}']"])
    result = run_recipe(recipe, output=str(tmp_path / "rw"))
    steps = [s["step"] for s in result.stats["steps"]]
    assert steps.index("refinedweb_lines") == steps.index("gopher_quality") + 1
    assert "c4_quality" not in steps
    op = RefinedWebLines()
    texts = pads.dataset(result.output / "data").to_table().column("text").to_pylist()
    assert texts and all(
        op.correct(t) == (t, 0, count_words_or_chars(t)) for t in texts
    )  # a second pass changes nothing
