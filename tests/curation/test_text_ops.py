"""Row-local text ops on constructed and real inputs: each rule fires where it should and only there."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import pyarrow as pa

from curation.ops import load_builtin_ops
from curation.ops.badwords import BadWordsFilter
from curation.ops.c4 import C4Quality
from curation.ops.fineweb import FineWebQuality
from curation.ops.gopher import (
    GopherQuality,
    GopherRepetition,
    TokenNgrams,
)
from curation.ops.html import HtmlExtract, decode_html, looks_like_html
from curation.ops.lang import LanguageId
from curation.ops.url import MAX_DOMAIN_KEY_CHARS, MAX_URL_KEY_CHARS, UrlFilter, _domain_keys, _url_keys
from curation.runner.accounting import StepStats
from curation.runner.executor import apply_op
from curation.text.words import _PREFIX, _SUFFIX, _suffix_start, split_tokens

load_builtin_ops()

CC_TEXT = Path(__file__).resolve().parents[2] / "data" / "cc_text" / "dolma_ccnet_cc_en_head-0091.jsonl.gz"

PROSE = (
    "The committee met on Tuesday to review the proposal for the new library. Members agreed that the "
    "building should have more space for children and a quiet room for study. The mayor said that the city "
    "would pay for half of the cost, and that the rest would come from private donors. Work is expected to "
    "begin in the spring and to end before the winter of next year. Residents can send their comments to the "
    "council by email or by post until the end of the month."
)


def _drops(op, texts, column="text", **extra_cols):
    if hasattr(op, "setup"):
        op.setup()
    table = pa.table({column: texts, **extra_cols})
    return op.evaluate(table).column("_drop").to_pylist()


def test_gopher_quality_rules():
    op = GopherQuality()
    short = "too short to count"
    no_stop = " ".join(["lorem"] * 60)
    symbols = PROSE + " #tag" * 20
    assert _drops(op, [PROSE, short, no_stop, symbols]) == [
        None,
        "min_doc_words",
        "stop_words",
        "symbol_word_ratio",
    ]


def test_gopher_repetition_rules():
    op = GopherRepetition()
    repeated_lines = "\n".join(["Buy cheap shoes here today."] * 5 + ["Other text line."])
    repeated_paras = "\n\n".join(["Buy cheap shoes here today."] * 5 + ["Other text line."])
    assert _drops(op, [PROSE, repeated_lines, repeated_paras]) == [None, "dup_line_frac", "dup_para_frac"]
    grams = TokenNgrams(["a", "b", "c", "d", "e", "a", "b", "c", "d", "e"])
    assert grams.top_chars(2) == 3 * 2  # "a b" twice
    assert grams.repeated_chars(5) == 5  # the second "a b c d e", separators not counted
    assert grams.repeated_chars_bound(5) == 10
    assert TokenNgrams(list("abcdefghij")).repeated_chars(5) == 0
    assert TokenNgrams(["a", "b"]).top_chars(4) == 0 == TokenNgrams([]).repeated_chars(5)


def _reference_ngram_chars(tokens: list[str], n: int) -> tuple[int, int]:
    """The two Gopher n-gram measures computed the plain way, with tuples, a Counter and a left-to-right scan."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0, 0
    gram, count = Counter(grams).most_common(1)[0]
    seen, repeated, i = set(), 0, 0
    while i < len(grams):
        if grams[i] in seen:
            repeated += sum(map(len, grams[i]))
            i += n
        else:
            seen.add(grams[i])
            i += 1
    return len(" ".join(gram)) * count, repeated


def test_ngram_ids_match_the_plain_computation_on_real_documents():
    with gzip.open(CC_TEXT, "rt") as fh:
        docs = [json.loads(line)["text"] for line in fh][:40]
    docs.append("spam eggs " * 50 + "ham")
    for text in docs:
        tokens = split_tokens(text)
        grams = TokenNgrams(tokens)
        for n in range(2, 11):
            top, repeated = _reference_ngram_chars(tokens, n)
            assert grams.top_chars(n) == top
            assert grams.repeated_chars(n) == repeated <= grams.repeated_chars_bound(n)


def test_suffix_search_on_the_tail_equals_the_pattern_on_the_slice():
    """`split_tokens` strips suffixes by looking at a chunk's last characters only (linear on a long run of
    punctuation, where searching each remaining slice was quadratic); that must find what the pattern finds on
    the slice, for chunks after a stripped prefix too."""
    rng = random.Random(0)
    alphabet = [*"aZ9.-'’,;:!?)(]}{[\"“”«»…%$#&~*<>+^—–snt", "...", "--", "n't", "'s", "'re"]
    for _ in range(20_000):
        chunk = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        start = 0
        while (m := _PREFIX.match(chunk, start)) and m.end() < len(chunk):
            start = m.end()
        for end in range(start + 1, len(chunk) + 1):
            m = _SUFFIX.search(chunk[start:end])
            assert _suffix_start(chunk, start, end) == (start + m.start() if m else None), (chunk, start, end)
    assert split_tokens("x" + "}" * 50_000) == ["x", *["}"] * 50_000]
    assert split_tokens("word" + "-" * 9) == ["word", "-" * 9]


def test_c4_cleans_lines_and_drops_documents():
    op = C4Quality()
    text = (
        PROSE.replace(". ", ".\n")
        + "\nClick here\nThis site uses cookies to track you.\nEnable JavaScript to view it."
    )
    out = op.evaluate(pa.table({"text": [text, "lorem ipsum dolor sit amet.", "function() { return 1; }"]}))
    assert out.column("_drop").to_pylist() == [None, "lorem_ipsum", "curly_bracket"]
    cleaned = out.column("text")[0].as_py()
    assert "Click here" not in cleaned and "cookies" not in cleaned and "JavaScript" not in cleaned
    assert cleaned.startswith("The committee met on Tuesday")
    assert _drops(C4Quality(), ["One sentence only here."]) == ["too_few_sentences"]


def test_fineweb_rules():
    op = FineWebQuality()
    lists = "\n".join(f"item number {i}" for i in range(30))
    dup = PROSE + "\n" + "\n".join(["Share this article on social media."] * 3)
    assert _drops(op, [PROSE, lists, dup]) == [None, "line_punct_ratio", "char_dup_ratio"]


def test_url_filter(tmp_path):
    user_list = tmp_path / "domains.txt"
    user_list.write_text("# mine\nexample.org\n")
    op = UrlFilter(blocklist=str(user_list))
    urls = [
        "https://news.example.com/story",
        "https://sub.example.org/x",
        "https://site.com/free-porn-videos",
        "https://hot-sexy-girls-live.com/",
        None,
    ]
    assert _drops(op, [*urls], column="url") == [
        None,
        "blocklisted_domain",
        "banned_word",
        "soft_banned_words",
        None,
    ]
    assert _drops(UrlFilter(), ["https://www.pornhub.com/view"], column="url") == ["blocklisted_domain"]


def test_url_filter_keys_of_a_huge_url_are_bounded_and_still_find_its_domain():
    """A URL of 100,000 labels and path segments gives keys of at most a DNS name's length (domains) and
    MAX_URL_KEY_CHARS (URL prefixes), and its listed parent domain is still found."""
    host = "a." * 50_000 + "badsite.com"
    domains = _domain_keys(host)
    assert max(map(len, domains)) <= MAX_DOMAIN_KEY_CHARS and domains[-2:] == ["badsite.com", "com"]
    urls = _url_keys("http://" + host + "/" + "p/" * 50_000, host)
    longest = _url_keys("http://x.com/" + "p/" * 50_000, "x.com")[-1]
    assert urls == [] and longest == "x.com" + "/p" * ((MAX_URL_KEY_CHARS - len("x.com")) // 2)
    op = UrlFilter(blocklist="none", extra_domains=["badsite.com"])
    assert _drops(op, ["http://" + host + "/" + "p/" * 50_000], column="url") == ["blocklisted_domain"]


def test_badwords_only_for_listed_languages():
    op = BadWordsFilter()
    texts = [PROSE, PROSE + " what a shit show", PROSE + " shit"]
    assert _drops(op, texts, lang=["en", "en", "de"]) == [None, "badwords", None]


def test_language_id_on_real_sentences():
    op = LanguageId(keep=["en"], min_score=0.65)
    op.setup()
    out = op.evaluate(
        pa.table({"text": [PROSE, "Der Ausschuss traf sich am Dienstag, um den Vorschlag zu prüfen."]})
    )
    assert out.column("lang").to_pylist() == ["en", "de"]
    assert out.column("_drop").to_pylist() == [None, "language"]
    assert out.column("lang_score")[0].as_py() > 0.9


def test_language_id_accuracy_on_lingua_sentences(shared):
    """fastText lid.176 on real sentences of ten languages: per-language accuracy well above chance."""
    path = shared("langid", "lingua", "sentences.jsonl.gz")
    wanted = {"en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "ja"}
    rows = {lang: [] for lang in wanted}
    with gzip.open(path, "rt") as fh:
        for line in fh:
            obj = json.loads(line)
            if obj["lang"] in wanted and len(rows[obj["lang"]]) < 100:
                rows[obj["lang"]].append(obj["text"])
    op = LanguageId(keep=[], min_score=0.0)
    op.setup()
    for lang, texts in rows.items():
        pred = op.evaluate(pa.table({"text": texts})).column("lang").to_pylist()
        accuracy = sum(p == lang for p in pred) / len(pred)
        assert accuracy >= 0.85, (lang, accuracy)


def test_charset_sniffing_header_meta_and_wrong_header():
    text = "Grüße aus Köln – schöne Straße"
    latin1_meta = (
        f'<html><head><meta charset="iso-8859-1"></head><body><p>{text[:14]}</p></body></html>'.encode(
            "latin-1"
        )
    )
    assert decode_html(latin1_meta, None)[0].count("Grüße") == 1
    cp1251 = "<html><body><p>Привет, мир! Это проверка кодировки.</p></body></html>".encode("cp1251")
    decoded, _ = decode_html(cp1251, "windows-1251")
    assert "Привет" in decoded
    # a header that names a charset Python does not know falls back to the page's own declaration
    utf8 = f'<html><head><meta charset="utf-8"></head><body><p>{text}</p></body></html>'.encode()
    assert text in decode_html(utf8, "x-unknown-charset")[0]
    # a wrong header charset that cannot decode the bytes falls back too
    assert text in decode_html(utf8, "ascii")[0]


def test_valid_utf8_wins_over_a_latin1_declaration_or_a_cp1252_guess():
    """UTF-8 bytes declared latin-1 (by header or meta), or undeclared with few non-ASCII characters (detection
    guesses cp1252, as on a visible cnbc.com page), decode as UTF-8; latin-1 bytes, which are not valid UTF-8,
    still decode by their declaration."""
    text = "The Emirates’ order – worth $8.8bn – was announced at the Dubai Airshow on Wednesday."
    body = f"<html><head>{{}}</head><body><p>{text}</p></body></html>"
    for head, header in (("", None), ('<meta charset="iso-8859-1">', None), ("", "iso-8859-1")):
        assert decode_html(body.format(head).encode(), header) == (body.format(head), "utf-8")
    latin1 = body.format('<meta charset="iso-8859-1">').replace("’", "'").replace("–", "-") + " Grüße"
    assert decode_html(latin1.encode("latin-1"), None)[0] == latin1


def test_html_extract_marks_non_html_and_empty_pages():
    op = HtmlExtract()
    page = f"<html><body><nav>Home | About</nav><article><p>{PROSE}</p></article></body></html>".encode()
    table = pa.table(
        {
            "payload": [page, b"\x89PNG\r\n", b"<html><body></body></html>", b"plain text from a WET record"],
            "content_type": ["text/html", "image/png", "text/html", "text/plain"],
            "http_charset": [None, None, None, "utf-8"],
        }
    )
    out = op.evaluate(table)
    assert out.column("_drop").to_pylist() == [None, "unsupported_content_type", "empty_text", None]
    assert "committee met on Tuesday" in out.column("text")[0].as_py()
    assert out.column("text")[3].as_py() == "plain text from a WET record"
    assert "payload" not in out.column_names


def test_html_extract_reads_records_without_a_content_type_behind_a_byte_order_mark():
    page = f"\n <html><body><article><p>{PROSE}</p></article></body></html>"
    payloads = [
        page.encode(),
        b"\xef\xbb\xbf" + page.encode(),
        page.encode("utf-16"),  # with its byte-order mark
        page.encode("utf-16-be").join([b"\xfe\xff", b""]),
        b"\xef\xbb\xbfplain text, not a page",
    ]
    assert [looks_like_html(p) for p in payloads] == [True, True, True, True, False]
    table = pa.table({"payload": payloads, "content_type": [None] * 5, "http_charset": [None] * 5})
    out = HtmlExtract().evaluate(table)
    assert out.column("_drop").to_pylist() == [None] * 4 + ["unsupported_content_type"]
    assert out.column("text").to_pylist()[:4] == [PROSE] * 4  # the byte-order mark decides and is not text
    assert [decode_html(p, "iso-8859-1")[1] for p in payloads[1:4]] == ["utf-8", "utf-16-le", "utf-16-be"]


def test_executor_isolates_a_row_that_raises():
    class Picky(GopherQuality):
        def evaluate(self, batch):
            if any(t == "boom" for t in batch.column("text").to_pylist()):
                raise ValueError("cannot handle boom")
            return super().evaluate(batch)

    stats = StepStats("picky", "segment")
    rejects: list[pa.Table] = []
    kept = apply_op(Picky(), "picky", pa.table({"text": [PROSE, "boom", "short"]}), stats, rejects)
    assert kept.column("text").to_pylist() == [PROSE]
    assert stats.rows_in == 3 and stats.rows_out == 1
    assert dict(stats.errors) == {"picky:exception:ValueError": 1}
    assert dict(stats.dropped) == {"picky:min_doc_words": 1}
    assert stats.balanced
    reasons = pa.concat_tables(rejects, promote_options="default").column("reject_reason").to_pylist()
    assert sorted(reasons) == ["picky:exception:ValueError", "picky:min_doc_words"]


def test_tag_only_keeps_rows_and_writes_scores():
    stats = StepStats("gq", "segment")
    kept = apply_op(GopherQuality(tag_only=True), "gq", pa.table({"text": [PROSE, "short"]}), stats, None)
    assert kept.num_rows == 2 and kept.column("gopher_words").to_pylist()[1] == 1
    assert not stats.dropped and stats.balanced
