"""pipelines/fineweb.yaml as FineWeb ran it: `pii_redact` (email and public IP addresses replaced as FineWeb's last
step did, in parity with datatrove's PIIFormatter on real page texts, counted as notes) and trafilatura with
`favor_precision`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from curation.ops.html import HtmlExtract, _tidy, decode_html
from curation.ops.pii import EMAIL, FINEWEB_EMAILS, FINEWEB_IPS, PiiRedact
from curation.recipe import load_recipe, parse_recipe
from curation.rows import NOTE
from curation.runner.run import run_recipe

DEMO_WARC = Path(__file__).resolve().parents[2] / "data" / "warc" / "demo.warc.gz"
TOKENS = {"email_placeholders": ["<EMAIL>"], "ip_placeholders": ["<IP>"]}


@pytest.mark.parametrize(
    ("text", "redacted", "note"),
    [
        ("Write to jane.doe+news@mail.example.co.uk today.", "Write to <EMAIL> today.", "emails"),
        ("x@[1.2.3.4] and o'brien@ex-ample.org", "<EMAIL> and <EMAIL>", "emails"),
        ("DNS 8.8.8.8, router 192.168.1.1, loopback 127.0.0.1.", "DNS <IP>, router 192.168.1.1, loopback 127.0.0.1.",
         "ips"),
        ("Mail a@b.io from 1.1.1.1.", "Mail <EMAIL> from <IP>.", "emails_and_ips"),
        # not addresses: no dot in the domain, a local part over 64 characters, a version number, an octet over
        # 255, a leading zero
        (f"a@localhost, {'x' * 65}@example.com, v1.2.3.4.5, 8.8.8.8.1, 256.1.1.1, 08.8.8.8", None, None),
        # a base64 blob (address characters without an `@`) stays, the address after it goes
        (f"data:{'QUJD+/ab' * 4000}= mail a@b.io", f"data:{'QUJD+/ab' * 4000}= mail <EMAIL>", "emails"),
    ],
)  # fmt: skip
def test_what_counts_as_an_address(text, redacted, note):
    assert PiiRedact(**TOKENS).redact(text) == (redacted or text, note)


def test_placeholders_are_fineweb_s_and_the_same_address_always_gets_the_same_one():
    op = PiiRedact()
    text = "a.b@c.com and d@e.org; again a.b@c.com. Hosts 8.8.8.8, 9.9.9.9, 8.8.8.8."
    out, note = op.redact(text)
    emails, ips = EMAIL.findall(out), re.findall(r"\d+\.\d+\.\d+\.\d+", out)
    assert note == "emails_and_ips" and set(emails) <= set(FINEWEB_EMAILS) and set(ips) <= set(FINEWEB_IPS)
    assert emails[0] == emails[2] and ips[0] == ips[2]
    assert op.redact(out) == (out, None)  # placeholders stay as they are: a second pass changes nothing
    assert PiiRedact(public_ips_only=False).redact("router 192.168.1.1")[0].split()[1] in FINEWEB_IPS
    assert PiiRedact(emails=False).redact("a@b.io 8.8.8.8")[0].startswith("a@b.io ")
    mapped = PiiRedact(**TOKENS).map(pa.table({"text": ["a@b.io", None, "none here"]}))
    assert mapped.column("text").to_pylist() == ["<EMAIL>", None, "none here"]  # a null text stays null
    assert mapped.column(NOTE).to_pylist() == ["emails", None, None]
    with pytest.raises(ValueError, match="email_placeholders"):
        PiiRedact(email_placeholders=[]).validate()


def _demo_page_texts() -> list[str]:
    """The full text (main content and boilerplate: footers hold the addresses) of every bundled demo page."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    texts = []
    for record in ArchiveIterator(str(DEMO_WARC), record_types=WarcRecordType.response, parse_http=True):
        html, _ = decode_html(record.reader.read(), record.http_charset)
        texts.append(extract_plain_text(HTMLTree.parse(html), main_content=False))
    return texts


_DOTTED_RUN = re.compile(r"\d+(?:\.\d+){3,}")


def _longer_than_an_ip(run: str) -> bool:
    parts = run.split(".")
    return len(parts) > 4 or any(len(p) > 3 for p in parts)


def test_parity_with_datatrove_on_the_demo_pages():
    """The same replacements as datatrove's PIIFormatter (what FineWeb ran) on every demo page, placeholders
    aside (both write `<EMAIL>` / `<IP>` here), with one deviation: a run of digits and dots longer than an IP
    (a build number `30.0.101.1960`), whose first four parts datatrove replaces, stays whole here."""
    formatters = pytest.importorskip("datatrove.pipeline.formatters")
    reference = formatters.PIIFormatter(email_replacement="<EMAIL>", ip_replacement="<IP>")
    op = PiiRedact(**TOKENS)
    texts = _demo_page_texts()
    longer = [m.group() for t in texts for m in _DOTTED_RUN.finditer(t) if _longer_than_an_ip(m.group())]
    masked = [
        _DOTTED_RUN.sub(lambda m: "<RUN>" if _longer_than_an_ip(m.group()) else m.group(), t) for t in texts
    ]
    theirs = [reference.format(t) for t in masked]
    assert sum(t != r for t, r in zip(masked, theirs, strict=True)) >= 20  # pages with addresses to compare
    assert [op.redact(t)[0] for t in masked] == theirs
    assert longer and all(run in op.redact(run)[0] for run in longer)
    assert any(reference.format(run) != run for run in longer)  # the deviation is real on these pages


def test_noted_rows_reach_stats(ray_local, tmp_path):
    rows = [
        {"id": str(i), "text": f"Doc {i}: mail user{i}@example.net" if i % 3 == 0 else f"Doc {i}"}
        for i in range(30)
    ]
    rows[1]["text"] = "Server 8.8.4.4 and owner@site.org"
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = parse_recipe({"name": "pii", "input": {"paths": [str(src)]}, "steps": [{"pii_redact": {}}]})
    result = run_recipe(recipe, output=str(tmp_path / "out"))
    step = next(s for s in result.stats["steps"] if s["step"] == "pii_redact")
    assert step["notes"] == {"pii_redact:emails": 10, "pii_redact:emails_and_ips": 1}
    assert step["in"] == step["out"] == 30 and result.stats["totals"]["identity_holds"]
    out = {r["id"]: r["text"] for r in pads.dataset(result.output / "data").to_table().to_pylist()}
    assert out["4"] == "Doc 4" and "@example.net" not in out["3"]
    assert out["3"].removeprefix("Doc 3: mail ") in FINEWEB_EMAILS


def test_fineweb_recipe_ends_with_pii_redact(ray_local, tmp_path):
    recipe = load_recipe("pipelines/fineweb.yaml", [f"input.paths=['{DEMO_WARC}']"])
    result = run_recipe(recipe, output=str(tmp_path / "fineweb"))
    assert result.stats["steps"][-1]["step"] == "pii_redact"
    texts = pads.dataset(result.output / "data").to_table().column("text").to_pylist()
    assert texts and all(set(EMAIL.findall(t)) <= set(FINEWEB_EMAILS) for t in texts)
    redacted = sum(any(e in t for e in FINEWEB_EMAILS) for t in texts)
    assert redacted and result.stats["steps"][-1]["notes"] == {"pii_redact:emails": redacted}


def test_fineweb_extraction_is_trafilatura_with_favor_precision():
    """`favor_precision: true` is trafilatura.extract's own option (as datatrove's extractor passes it), on the
    demo pages; it needs `engine: trafilatura`."""
    import trafilatura

    op = HtmlExtract(
        engine="trafilatura", favor_precision=True, trafilatura_fallback_chars=None
    )  # as the recipe
    op.validate()
    pages = []
    for record in ArchiveIterator(str(DEMO_WARC), record_types=WarcRecordType.response, parse_http=True):
        pages.append((record.reader.read(), record.http_content_type, record.http_charset))
        if len(pages) == 20:
            break
    ours = [op._one(*page)[0] or "" for page in pages]
    theirs = [
        _tidy(
            trafilatura.extract(
                decode_html(payload, charset)[0], include_comments=False, favor_precision=True
            )
            or ""
        )
        for payload, _, charset in pages
    ]
    assert ours == theirs
    plain = HtmlExtract(engine="trafilatura")
    assert ours != [plain._one(*page)[0] or "" for page in pages]  # the option changes some pages
    with pytest.raises(ValueError, match="favor_precision"):
        HtmlExtract(favor_precision=True).validate()
