"""Hand-made WARC, ARC and JSONL bytes for the bad-input tests (crafted in the tests, no data files)."""

from __future__ import annotations

import gzip
import json
import struct
import uuid
import zlib

import pyarrow as pa

from curation.io.reader_stats import ReaderStats
from tests.curation.test_readers import read_all


def http_response(text: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> bytes:
    """An HTTP/1.1 200 response holding a small HTML page (or `body`)."""
    body = body if body is not None else f"<html><body><p>{text}</p></body></html>".encode()
    lines = ["HTTP/1.1 200 OK", "Content-Type: text/html; charset=utf-8"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def warc_record(
    uri: str,
    block: bytes,
    kind: str = "response",
    version: str = "WARC/1.0",
    length_delta: int = 0,
    extra: dict[str, str] | None = None,
    eol: str = "\r\n",
) -> bytes:
    """One uncompressed WARC record; `length_delta` makes its Content-Length lie."""
    headers = {
        "WARC-Type": kind,
        "WARC-Record-ID": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, uri + kind)}>",
        "WARC-Date": "2024-01-01T00:00:00Z",
        "WARC-Target-URI": uri,
        "Content-Type": "application/http; msgtype=response",
        **(extra or {}),
        "Content-Length": str(len(block) + length_delta),
    }
    head = eol.join([version, *(f"{k}: {v}" for k, v in headers.items())]) + eol + eol
    return head.encode() + block + (eol + eol).encode()


def pages(n: int, prefix: str = "p") -> list[tuple[str, bytes]]:
    """`n` (uri, response block) pairs with distinct readable text."""
    return [
        (f"http://{prefix}{i}.example/", http_response(f"Page {i} of the {prefix} series.")) for i in range(n)
    ]


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def jsonl(n: int) -> bytes:
    return b"".join(
        json.dumps({"id": f"d{i}", "text": f"document number {i}"}).encode() + b"\n" for i in range(n)
    )


def gzip_bomb(size: int) -> bytes:
    """A valid gzip stream of `size` zero bytes (a multiple of 1 MiB), about size/1000 bytes long. After a full
    flush deflate output depends only on the next input, so one compressed MiB is repeated."""
    chunk = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    repeat = packer.compress(chunk) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size >> 20):
        crc = zlib.crc32(chunk, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + first + repeat * ((size >> 20) - 1) + packer.flush() + trailer


def read_file(path, fmt: str = "auto", unit_bytes: int = 64 << 20) -> tuple[pa.Table | None, ReaderStats]:
    """Every unit of a file read as the runner reads it (the reader identity asserted), as one table."""
    tables, stats = read_all(path, fmt, unit_bytes)
    return (pa.concat_tables(tables) if tables else None), stats


def urls(table: pa.Table | None) -> list[str]:
    return [] if table is None else table.column("url").to_pylist()
