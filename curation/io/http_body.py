"""Stored HTTP responses: headers, content type and charset, and the body with its transfer and content
encodings undone under a size cap (a compression bomb is refused, not inflated)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from curation.io.units import GZIP_MAGIC

MAX_BODY_BYTES = 32 << 20  # the most one body may decode to
_STEP = 1 << 20


class BodyError(ValueError):
    """The body cannot be decoded within the cap; the message is the counted reason."""


@dataclass(frozen=True)
class HttpResponse:
    content_type: str | None  # the media type, lower case, without parameters
    charset: str | None
    headers: dict[str, str]  # lower-case names
    body: bytes


def split_response(block: bytes) -> HttpResponse | None:
    """Parse the status line and headers of a stored response; None when `block` is not an HTTP response."""
    if not block.startswith(b"HTTP/"):
        return None
    ends = [i for i in (block.find(b"\r\n\r\n"), block.find(b"\n\n")) if i >= 0]
    if not ends:
        head, body = block, b""
    else:
        split = min(ends)
        head = block[:split]
        body = block[split + (4 if block.startswith(b"\r\n\r\n", split) else 2) :]
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines()[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), value.strip())  # the first of repeated headers counts
    ctype = headers.get("content-type", "")
    media = ctype.split(";")[0].strip().lower() or None
    charset = None
    for param in ctype.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("'\"").lower() or None
    return HttpResponse(media, charset, headers, body)


def _inflate(body: bytes, wbits: int, cap: int) -> bytes:
    inflater = zlib.decompressobj(wbits=wbits)
    out = bytearray()
    data = body
    while data:
        out += inflater.decompress(data, _STEP)
        if len(out) > cap:
            raise BodyError("body_too_large")
        data = inflater.unconsumed_tail
        if inflater.eof:
            break
    out += inflater.flush()
    return bytes(out)


def _brotli(body: bytes, cap: int) -> bytes:
    try:
        import brotli
    except ImportError:
        raise BodyError("undecodable_body:br_unsupported") from None
    decoder = brotli.Decompressor()
    try:
        out = bytearray(decoder.process(body, output_buffer_limit=_STEP))
        while not decoder.can_accept_more_data():
            out += decoder.process(b"", output_buffer_limit=_STEP)
            if len(out) > cap:
                raise BodyError("body_too_large")
    except brotli.error:
        raise BodyError("undecodable_body:br") from None
    if len(out) > cap:
        raise BodyError("body_too_large")
    return bytes(out)


def _decode(body: bytes, coding: str, cap: int) -> bytes:
    try:
        if coding in ("gzip", "x-gzip"):
            # servers often label bodies gzip that are not (and archives may store them decoded)
            return _inflate(body, 31, cap) if body[:2] == GZIP_MAGIC else body
        if coding == "deflate":
            try:
                return _inflate(body, 15, cap)
            except zlib.error:
                return _inflate(body, -15, cap)  # raw deflate, as some servers send
    except zlib.error:
        raise BodyError(f"undecodable_body:{coding}") from None
    if coding == "br":
        return _brotli(body, cap)
    return body  # identity, or a coding we pass through as stored


def dechunk(body: bytes, cap: int = MAX_BODY_BYTES) -> bytes:
    """Undo chunked transfer encoding; a body that is not chunked after all is returned as stored."""
    out, pos = bytearray(), 0
    while True:
        end = body.find(b"\n", pos)
        if end < 0:
            return bytes(out) if out else body
        try:
            size = int(body[pos:end].split(b";")[0].strip(), 16)
        except ValueError:
            return bytes(out) if out else body
        if size == 0:
            return bytes(out)
        out += body[end + 1 : end + 1 + size]
        if len(out) > cap:
            raise BodyError("body_too_large")
        pos = end + 1 + size
        pos += 2 if body.startswith(b"\r\n", pos) else 1


def decoded_body(response: HttpResponse, cap: int = MAX_BODY_BYTES) -> bytes:
    """The body with `Transfer-Encoding: chunked` and `Content-Encoding` (gzip, deflate, br) undone."""
    body = response.body
    if "chunked" in response.headers.get("transfer-encoding", "").lower():
        body = dechunk(body, cap)
    codings = [
        c.strip().lower() for c in response.headers.get("content-encoding", "").split(",") if c.strip()
    ]
    for coding in reversed(codings):  # applied in order, undone in reverse
        body = _decode(body, coding, cap)
    return body
