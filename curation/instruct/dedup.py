"""`conversation_keys`: the dedup keys of conversation and preference rows, for the dedup stages.

`conversation_text` is every turn as `role: text` (image tags removed), one per line, for `minhash_dedup`;
`conversation_key` is the FineWeb-style normalised turns plus each image's pHash, for
`exact_dedup {column: conversation_key, normalize: false}`: the same words about the same picture (re-encoded or
resized copies included) are one conversation, the same words about another picture are not.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import xxhash

from curation.io.instruct_formats import IMAGE_TAG
from curation.ops.base import Mapper, register, set_column
from curation.ops.image import DRAFT_SIDE, MAX_PIXELS
from curation.ops.image_codec import hash_image, open_image
from curation.text.words import normalize_for_hash


def image_phash(data: bytes | None) -> int | None:
    """64-bit pHash of encoded image bytes; None when they do not decode."""
    try:
        img, _, _ = open_image(data or b"", MAX_PIXELS)
        return hash_image(img, DRAFT_SIDE)
    except Exception:  # undecodable images have no perceptual hash; callers fall back or skip
        return None


def image_key(data: bytes | None) -> str:
    """The pHash as 16 hex digits, or `x` + the content hash of bytes that do not decode."""
    phash = image_phash(data)
    return f"{phash:016x}" if phash is not None else f"x{xxhash.xxh3_64_hexdigest(data or b'')}"


def row_turns(row: dict) -> list[tuple[str, str]]:
    """(role, text) of a conversation row, or of a preference row's prompt + chosen + rejected."""
    if row.get("messages") is not None:
        turns = [(m["role"], m["content"] or "") for m in row["messages"]]
    else:
        turns = [(m["role"], m["content"] or "") for m in row.get("prompt") or []]
        turns += [("chosen", row.get("chosen") or ""), ("rejected", row.get("rejected") or "")]
    return [(role, text.replace(IMAGE_TAG, " ")) for role, text in turns]


@register("conversation_keys")
@dataclasses.dataclass
class ConversationKeys(Mapper):
    """Write `conversation_text` (turns, for `minhash_dedup`) and `conversation_key` (normalised turns + image
    pHashes, for `exact_dedup` with `normalize: false`) of conversation or preference rows."""

    requires = ("images",)
    provides = ("conversation_text", "conversation_key")

    def map(self, batch: pa.Table) -> pa.Table:
        columns = [
            c for c in ("messages", "prompt", "chosen", "rejected", "images") if c in batch.column_names
        ]
        texts, keys = [], []
        for row in batch.select(columns).to_pylist():
            turns = row_turns(row)
            texts.append("\n".join(f"{role}: {text.strip()}" for role, text in turns))
            normalised = " | ".join(f"{role}: {normalize_for_hash(text)}" for role, text in turns)
            images = " ".join(image_key(b) for b in row.get("images") or [])
            keys.append(f"{normalised} || {images}")
        batch = set_column(batch, "conversation_text", pa.array(texts, pa.string()))
        return set_column(batch, "conversation_key", pa.array(keys, pa.string()))
