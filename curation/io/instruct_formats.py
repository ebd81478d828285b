"""Converters between the formats people have and the conversation / preference contracts, both directions.

Records are plain dicts as parsed from JSON; rows are dicts of the contracts (`curation.rows`) with images as
bytes. Two optional columns make the round trips lossless: `image_paths` (where each image came from, so an
export writes it back under the same relative name) and `record_extra` (the record's other keys, as JSON).

- LLaVA JSON: `{"id", "image": "rel/path.jpg" | [...], "conversations": [{"from": "human"|"gpt", "value"}]}`.
- ShareGPT / LLaMA-Factory sharegpt: `{"conversations": [{"from", "value"}], "system"?, "images"?: [...]}`.
- OpenAI messages: `{"messages": [{"role", "content": str | [parts]}], "images"?: [...]}`.
- TRL preference: `{"prompt", "chosen", "rejected", "images"?}`, standard (strings) or conversational
  (message lists, content as strings or `{"type": "image"}` / `{"type": "text", "text"}` parts), or with an
  implicit prompt (chosen and rejected are whole conversations sharing everything but the last turn).

A record that cannot be converted raises `FormatError` with a short reason (counted by the readers).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

IMAGE_TAG = "<image>"  # the trainer's tag (training.data.prompting.IMAGE_TAG)
ROLE_FROM_SHAREGPT = {"human": "user", "gpt": "assistant", "system": "system", "user": "user"}
ROLE_FROM_SHAREGPT["assistant"] = "assistant"
ROLE_TO_SHAREGPT = {"user": "human", "assistant": "gpt", "system": "system"}
EXTRA = "record_extra"
PATHS = "image_paths"
TRL_LAYOUT = "__trl_layout__"  # kept in record_extra: how the TRL record spelled its turns
_IMAGE_PARTS = ("image", "image_url")


class FormatError(ValueError):
    """A record that is not valid in its format; `reason` is the counter it is reported under."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# ---------------------------------------------------------------- images


def load_image(ref: Any, base_dir: Path) -> tuple[bytes, str | None]:
    """(bytes, relative path to remember) of an image reference: a path (relative to `base_dir`), a data URL,
    raw bytes, or a `{"bytes", "path"}` / `{"url"}` mapping (HF datasets' Image feature, OpenAI image_url)."""
    if isinstance(ref, bytes | bytearray):
        return bytes(ref), None
    if isinstance(ref, dict):
        if ref.get("bytes"):
            return bytes(ref["bytes"]), ref.get("path")
        ref = ref.get("path") or ref.get("url") or (ref.get("image_url") or {}).get("url")
    if not isinstance(ref, str) or not ref:
        raise FormatError("missing_image", f"no usable image reference {ref!r}")
    if ref.startswith("data:"):
        try:
            return base64.b64decode(ref.split(",", 1)[1], validate=True), None
        except (ValueError, IndexError) as exc:
            raise FormatError("bad_data_url", str(exc)) from exc
    if re.match(r"^[a-z]+://", ref):
        raise FormatError("remote_image", f"{ref} (download images first; curation is offline)")
    path = Path(ref) if Path(ref).is_absolute() else base_dir / ref
    try:
        return path.read_bytes(), ref
    except OSError as exc:
        raise FormatError("missing_image", f"{path}: {exc.strerror or exc}") from exc


def load_images(refs: list, base_dir: Path) -> tuple[list[bytes], list[str] | None]:
    """Bytes of every reference, and their relative paths when every one had a path."""
    loaded = [load_image(ref, base_dir) for ref in refs]
    paths = [p for _, p in loaded]
    return [b for b, _ in loaded], paths if loaded and all(paths) else None


def image_suffix(data: bytes) -> str:
    """File suffix from the image's magic bytes."""
    for magic, suffix in (
        (b"\xff\xd8", ".jpg"),
        (b"\x89PNG", ".png"),
        (b"GIF8", ".gif"),
        (b"BM", ".bmp"),
    ):
        if data.startswith(magic):
            return suffix
    return ".webp" if data[8:12] == b"WEBP" else ".bin"


def _safe_relative(path: str) -> bool:
    p = Path(path)
    return bool(path) and not p.is_absolute() and ".." not in p.parts


def image_names(row: dict) -> list[str]:
    """Relative file names to write a row's images under: the remembered paths, else `images/<id>_<k><ext>`."""
    images = row.get("images") or []
    kept = row.get(PATHS) or []
    if len(kept) == len(images) and all(_safe_relative(p or "") for p in kept):
        return list(kept)
    stem = re.sub(r"[^\w.-]", "_", str(row.get("id") or "row"))
    return [f"images/{stem}_{k}{image_suffix(blob or b'')}" for k, blob in enumerate(images)]


# ---------------------------------------------------------------- content parts


def content_text(content: Any, inline: list) -> str:
    """A message's content as text with one `<image>` per image part; parts that carry an image are appended
    to `inline` (in order)."""
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise FormatError("bad_content", f"content is {type(content).__name__}")
    out = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            out.append(part.get("text") or "")
        elif kind in _IMAGE_PARTS:
            out.append(IMAGE_TAG)
            ref = part.get(kind) if kind == "image_url" else part.get("image")
            if ref:
                inline.append(ref)
        else:
            raise FormatError("bad_content", f"unknown content part {part!r}")
    return "".join(out)


def text_parts(text: str) -> list[dict]:
    """The inverse of `content_text` for image-less parts: `{"type": "image"}` at each tag, text between."""
    parts: list[dict] = []
    for j, piece in enumerate(text.split(IMAGE_TAG)):
        if j:
            parts.append({"type": "image"})
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def _extra(record: dict, known: tuple[str, ...], **more: Any) -> str | None:
    rest = {k: v for k, v in record.items() if k not in known}
    rest.update(more)
    return json.dumps(rest, sort_keys=True, ensure_ascii=False) if rest else None


def _restore(out: dict, row: dict) -> dict:
    extra = json.loads(row[EXTRA]) if row.get(EXTRA) else {}
    extra.pop(TRL_LAYOUT, None)
    return {**out, **extra}


def _record_id(record: dict, fallback: str) -> str:
    return str(record["id"]) if record.get("id") is not None else fallback


def _image_refs(record: dict) -> list:
    refs = record.get("images", record.get("image"))
    if refs is None:
        return []
    return list(refs) if isinstance(refs, list) else [refs]


# ---------------------------------------------------------------- LLaVA


def from_llava(record: dict, base_dir: Path, fallback_id: str = "") -> dict:
    """A LLaVA JSON record -> conversation row (images relative to `base_dir`, LLaVA's image folder)."""
    if not isinstance(record, dict) or not isinstance(record.get("conversations"), list):
        raise FormatError("no_conversations")
    messages = []
    for turn in record["conversations"]:
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise FormatError("bad_turn", repr(turn)[:80])
        role = turn.get("from")
        messages.append({"role": ROLE_FROM_SHAREGPT.get(role, str(role)), "content": turn["value"]})
    images, paths = load_images(_image_refs(record), base_dir)
    return {
        "id": _record_id(record, fallback_id),
        "images": images,
        "messages": messages,
        PATHS: paths,
        EXTRA: _extra(record, ("id", "image", "images", "conversations")),
    }


def to_llava(row: dict, names: list[str]) -> dict:
    """A conversation row -> LLaVA JSON record whose images are the files `names` (relative)."""
    out: dict[str, Any] = {"id": row["id"]}
    if len(names) == 1:
        out["image"] = names[0]
    elif names:
        out["image"] = names
    out["conversations"] = [
        {"from": ROLE_TO_SHAREGPT.get(m["role"], m["role"]), "value": m["content"]} for m in row["messages"]
    ]
    return _restore(out, row)


# ---------------------------------------------------------------- ShareGPT / LLaMA-Factory / OpenAI


def from_sharegpt(record: dict, base_dir: Path, fallback_id: str = "") -> dict:
    """A ShareGPT, LLaMA-Factory sharegpt or OpenAI-messages record -> conversation row."""
    if not isinstance(record, dict):
        raise FormatError("not_an_object")
    inline: list = []
    messages = []
    if isinstance(record.get("system"), str) and record["system"]:
        messages.append({"role": "system", "content": record["system"]})
    if isinstance(record.get("conversations"), list):
        for turn in record["conversations"]:
            if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
                raise FormatError("bad_turn", repr(turn)[:80])
            role = turn.get("from")
            messages.append({"role": ROLE_FROM_SHAREGPT.get(role, str(role)), "content": turn["value"]})
        known: tuple[str, ...] = ("id", "conversations", "system", "images", "image")
    elif isinstance(record.get("messages"), list):
        for turn in record["messages"]:
            if not isinstance(turn, dict):
                raise FormatError("bad_turn", repr(turn)[:80])
            messages.append(
                {"role": str(turn.get("role")), "content": content_text(turn.get("content"), inline)}
            )
        known = ("id", "messages", "system", "images", "image")
    else:
        raise FormatError("no_conversations", "neither `conversations` nor `messages`")
    images, paths = load_images(inline + _image_refs(record), base_dir)
    return {
        "id": _record_id(record, fallback_id),
        "images": images,
        "messages": messages,
        PATHS: paths,
        EXTRA: _extra(record, known),
    }


def to_sharegpt(row: dict, names: list[str]) -> dict:
    """A conversation row -> LLaMA-Factory sharegpt record (`system` key, `conversations`, `images` list)."""
    messages = list(row["messages"])
    out: dict[str, Any] = {"id": row["id"]}
    if messages and messages[0]["role"] == "system":
        out["system"] = messages.pop(0)["content"]
    out["conversations"] = [
        {"from": ROLE_TO_SHAREGPT.get(m["role"], m["role"]), "value": m["content"]} for m in messages
    ]
    if names:
        out["images"] = names
    return _restore(out, row)


def to_openai(row: dict, names: list[str]) -> dict:
    """A conversation row -> OpenAI-messages record (string contents with `<image>` tags, `images` list)."""
    out: dict[str, Any] = {"id": row["id"], "messages": [dict(m) for m in row["messages"]]}
    if names:
        out["images"] = names
    return _restore(out, row)


# ---------------------------------------------------------------- TRL preference


def _turns(value: Any, inline: list, what: str) -> list[dict]:
    if not isinstance(value, list):
        raise FormatError("bad_turn", f"{what} is {type(value).__name__}")
    out = []
    for turn in value:
        if not isinstance(turn, dict):
            raise FormatError("bad_turn", f"{what}: {turn!r}"[:80])
        out.append({"role": str(turn.get("role")), "content": content_text(turn.get("content"), inline)})
    return out


def _response(turns: list[dict], what: str) -> str:
    if len(turns) != 1 or turns[0]["role"] != "assistant":
        raise FormatError("bad_response", f"{what} must be exactly one assistant turn")
    return turns[0]["content"]


def from_trl(record: dict, base_dir: Path, fallback_id: str = "") -> dict:
    """A TRL preference record (standard, conversational, or with an implicit prompt) -> preference row."""
    if not isinstance(record, dict) or "chosen" not in record or "rejected" not in record:
        raise FormatError("no_chosen_rejected")
    inline: list = []
    chosen, rejected, prompt = record["chosen"], record["rejected"], record.get("prompt")
    if isinstance(chosen, str) and isinstance(rejected, str):
        layout = "standard"
        if not isinstance(prompt, str):
            raise FormatError("bad_prompt", "a standard TRL record needs a string prompt")
        messages = [{"role": "user", "content": prompt}]
        chosen_text, rejected_text = chosen, rejected
    elif prompt is None:  # implicit prompt: the shared prefix of two whole conversations
        layout = "implicit"
        c_turns, r_turns = _turns(chosen, inline, "chosen"), _turns(rejected, [], "rejected")
        if len(c_turns) < 2 or c_turns[:-1] != r_turns[:-1]:
            raise FormatError("unshared_prompt", "chosen and rejected differ before their last turn")
        messages = c_turns[:-1]
        chosen_text, rejected_text = _response(c_turns[-1:], "chosen"), _response(r_turns[-1:], "rejected")
    else:
        layout = "conversational"
        messages = _turns(prompt, inline, "prompt")
        chosen_text = _response(_turns(chosen, inline, "chosen"), "chosen")
        rejected_text = _response(_turns(rejected, inline, "rejected"), "rejected")
    images, paths = load_images(inline + _image_refs(record), base_dir)
    more = {TRL_LAYOUT: layout} if layout != "conversational" else {}
    return {
        "id": _record_id(record, fallback_id),
        "images": images,
        "prompt": messages,
        "chosen": chosen_text,
        "rejected": rejected_text,
        PATHS: paths,
        EXTRA: _extra(record, ("id", "prompt", "chosen", "rejected", "images", "image"), **more),
    }


def _parts_turns(messages: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": text_parts(m["content"])} for m in messages]


def to_trl(row: dict, names: list[str]) -> dict:
    """A preference row -> TRL record in the layout it was read in (conversational with content parts by
    default: TRL's vision layout)."""
    extra = json.loads(row[EXTRA]) if row.get(EXTRA) else {}
    layout = extra.get(TRL_LAYOUT, "conversational")
    prompt = list(row["prompt"])
    out: dict[str, Any] = {"id": row["id"]}
    if layout == "standard" and len(prompt) == 1 and prompt[0]["role"] == "user":
        out.update(prompt=prompt[0]["content"], chosen=row["chosen"], rejected=row["rejected"])
    else:
        chosen = [{"role": "assistant", "content": row["chosen"]}]
        rejected = [{"role": "assistant", "content": row["rejected"]}]
        if layout == "implicit":
            out.update(chosen=_parts_turns(prompt + chosen), rejected=_parts_turns(prompt + rejected))
        else:
            out.update(
                prompt=_parts_turns(prompt), chosen=_parts_turns(chosen), rejected=_parts_turns(rejected)
            )
    if names:
        out["images"] = names
    return _restore(out, row)


READERS = {"llava": from_llava, "sharegpt": from_sharegpt, "trl": from_trl}
WRITERS = {"llava": to_llava, "sharegpt": to_sharegpt, "openai": to_openai, "trl": to_trl}
