"""PII anonymisation as FineWeb's last step: email addresses and public IPv4 addresses replaced by placeholders.

An email address is an RFC 5322 dot-atom local part of at most 64 characters (RFC 5321), `@`, and a domain of two or
more DNS labels of at most 63 characters (or an IPv4 literal in brackets), starting at a word boundary. An IP
address is a dotted quad of decimal octets (0-255, no leading zeros) that does not stand inside a longer run of
digits and dots (a version number `1.2.3.4.5`), and with `public_ips_only` one that `ipaddress` calls global (not
private, loopback, link-local, reserved, ...). FineWeb replaced them with fixed example addresses; here the
placeholder for a match is chosen by a hash of the match, so the same address always becomes the same placeholder
whatever the worker or order.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable

import pyarrow as pa
import xxhash

from curation.ops.base import NOTE, Mapper, register, set_column

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"  # RFC 5322 atom characters
# dot-atoms of at most 64 characters (RFC 5321's limit): the bound keeps a long run of atom characters without an
# `@` (a base64 blob) linear to scan instead of quadratic
_LOCAL = rf"{_ATEXT}(?:{_ATEXT}|\.(?={_ATEXT})){{0,63}}"
_LABEL = (
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"  # a DNS label: 1-63 characters, no hyphen at either end
)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_QUAD = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
EMAIL = re.compile(rf"\b{_LOCAL}@(?:(?:{_LABEL}\.)+{_LABEL}|\[{_QUAD}\])")
IPV4 = re.compile(rf"(?<![0-9])(?<![0-9]\.){_QUAD}(?!\.?[0-9])")

# FineWeb's placeholders: example.com / example.org are reserved for examples; the IPs were picked at random
FINEWEB_EMAILS = ("email@example.com", "firstname.lastname@example.org")
FINEWEB_IPS = (
    "22.214.171.124",
    "126.96.36.199",
    "188.8.131.52",
    "184.108.40.206",
    "220.127.116.11",
    "18.104.22.168",
)


def _placeholder(match: str, placeholders: tuple[str, ...]) -> str:
    """`match` itself when it is one of `placeholders` (a second pass changes nothing), else the placeholder
    its hash picks."""
    if match in placeholders:
        return match
    return placeholders[xxhash.xxh64_intdigest(match) % len(placeholders)]


def _substitute(
    pattern: re.Pattern, text: str, placeholders: tuple[str, ...], keep: Callable[[str], bool] | None = None
) -> tuple[str, int]:
    """(`text` with each match of `pattern` that `keep` does not keep replaced by its placeholder, how many
    matches changed)."""
    changed = 0

    def replace(match: re.Match) -> str:
        nonlocal changed
        found = match.group()
        out = found if keep is not None and keep(found) else _placeholder(found, placeholders)
        changed += out != found
        return out

    return pattern.sub(replace, text), changed


@register("pii_redact")
@dataclasses.dataclass
class PiiRedact(Mapper):
    """Replace email addresses and public IP addresses in `column` with placeholders (FineWeb's PII step).

    Definitions in the module docstring. `emails` / `ips`: which kinds to replace; `public_ips_only` (true, as
    FineWeb): leave private, loopback and reserved addresses. `email_placeholders` / `ip_placeholders` (FineWeb's
    example addresses; any strings, such as `<EMAIL>`): what is put in their place, one picked per match by its
    hash. A row with replacements is noted (stats.json `notes`): `emails`, `ips` or `emails_and_ips`. A null text
    stays null.
    """

    requires = ("{column}",)
    provides = ("{column}",)

    column: str = "text"
    emails: bool = True
    ips: bool = True
    public_ips_only: bool = True
    email_placeholders: list[str] = dataclasses.field(default_factory=lambda: list(FINEWEB_EMAILS))
    ip_placeholders: list[str] = dataclasses.field(default_factory=lambda: list(FINEWEB_IPS))

    def validate(self) -> None:
        if self.emails and not self.email_placeholders:
            raise ValueError("email_placeholders is empty: give at least one address (or emails: false)")
        if self.ips and not self.ip_placeholders:
            raise ValueError("ip_placeholders is empty: give at least one address (or ips: false)")

    def redact(self, text: str) -> tuple[str, str | None]:
        """(`text` with its PII replaced, the row's note: which kinds were replaced, or None)."""
        kinds = []
        if self.emails:
            text, replaced = _substitute(EMAIL, text, tuple(self.email_placeholders))
            kinds += ["emails"] if replaced else []
        if self.ips:
            text, replaced = _substitute(IPV4, text, tuple(self.ip_placeholders), keep=self._keeps_ip)
            kinds += ["ips"] if replaced else []
        return text, "_and_".join(kinds) or None

    def _keeps_ip(self, address: str) -> bool:
        """Whether `address` stays: a non-global one, with `public_ips_only`."""
        return self.public_ips_only and not ipaddress.ip_address(address).is_global

    def map(self, batch: pa.Table) -> pa.Table:
        texts, notes = [], []
        for text in batch.column(self.column).to_pylist():
            redacted, note = (None, None) if text is None else self.redact(text)
            texts.append(redacted)
            notes.append(note)
        batch = set_column(batch, self.column, pa.array(texts, pa.string()))
        if any(notes):
            batch = set_column(batch, NOTE, pa.array(notes, pa.string()))
        return batch
