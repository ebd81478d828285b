"""Turn-by-turn tokenisation with the LM's chat template; only assistant tokens carry labels.

Each `<image>` tag becomes `num_patches` placeholder ids (IMAGE_TOKEN_ID) where the projected patch
embeddings go. Samples that cannot be trained on raise `DropSample` with a reason that is counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from training.model.vlm import IGNORE_INDEX, IMAGE_TOKEN_ID

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IMAGE_TAG = "<image>"
DROP_REASONS = (
    "bad_conversation",
    "image_count_mismatch",
    "truncated_image",
    "fully_masked",
    "bad_image",
    "empty_text",
    "missing_reference",
)


class DropSample(Exception):
    """A sample is skipped; `reason` is the counter it is reported under."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    num_images: int


class PromptEncoder:
    """Tokenises conversations for one tokenizer, image size (patches per image) and maximum length."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, num_patches: int, max_length: int) -> None:
        self.tokenizer = tokenizer
        self.num_patches = num_patches
        self.max_length = max_length

    def _render(self, messages: list[dict], generation_prompt: bool = False) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )

    def _segments(self, messages: list[dict]) -> list[tuple[str, bool]]:
        """Split the rendered conversation into (text, is_assistant_content) pieces, turn by turn."""
        segments: list[tuple[str, bool]] = []
        prev = ""
        for i, message in enumerate(messages):
            if message["role"] == "assistant":
                if i == 0:
                    raise DropSample("bad_conversation", "conversation starts with an assistant turn")
                head = self._render(messages[:i], generation_prompt=True)
                segments.append((self._delta(prev, head), False))
                prev = head
            full = self._render(messages[: i + 1])
            segments.append((self._delta(prev, full), message["role"] == "assistant"))
            prev = full
        return segments

    @staticmethod
    def _delta(prev: str, full: str) -> str:
        if not full.startswith(prev):
            raise ValueError("chat template is not prefix-stable (rendering more turns rewrote earlier text)")
        return full[len(prev) :]

    def _tokenize(self, text: str) -> tuple[list[int], int]:
        ids: list[int] = []
        pieces = text.split(IMAGE_TAG)
        for j, piece in enumerate(pieces):
            if j:
                ids.extend([IMAGE_TOKEN_ID] * self.num_patches)
            if piece:
                ids.extend(self.tokenizer(piece, add_special_tokens=False)["input_ids"])
        return ids, len(pieces) - 1

    def encode(self, messages: list[dict], num_images: int) -> Encoded:
        """Encode a conversation whose `<image>` tags refer, in order, to `num_images` images."""
        for message in messages:
            if message.get("role") not in ("system", "user", "assistant") or message.get("content") is None:
                raise DropSample("bad_conversation", f"bad message {message!r}")
        input_ids: list[int] = []
        labels: list[int] = []
        tags = 0
        for text, is_assistant in self._segments(messages):
            ids, n = self._tokenize(text)
            tags += n
            input_ids.extend(ids)
            if is_assistant:
                labels.extend(IGNORE_INDEX if t == IMAGE_TOKEN_ID else t for t in ids)
            else:
                labels.extend([IGNORE_INDEX] * len(ids))
        if tags != num_images:
            raise DropSample("image_count_mismatch", f"{tags} {IMAGE_TAG} tags but {num_images} images")
        if len(input_ids) > self.max_length:
            if IMAGE_TOKEN_ID in input_ids[self.max_length :]:
                raise DropSample("truncated_image", f"{len(input_ids)} tokens > max_length {self.max_length}")
            input_ids, labels = input_ids[: self.max_length], labels[: self.max_length]
        if all(label == IGNORE_INDEX for label in labels[1:]):
            raise DropSample("fully_masked", "no assistant token left to train on")
        return Encoded(input_ids, labels, num_images)
