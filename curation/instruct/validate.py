"""`conversation_validate`: drop at curation exactly the rows the trainer would drop, for the same reason.

The rows go through the trainer's own sample builder (its prompt encoder with the LM's chat template,
turn-by-turn label masking, image-tag count, length limit; its image decoding), built for the tokenizer,
patches per image and maximum length of the training config. Needs the `train` extra (torch, transformers).
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from curation.ops.base import AT_LEAST_0, POSITIVE, Filter, register, set_column, with_drop

SCHEMAS = ("auto", "conversation", "preference", "pair")


def _schema_of(columns: list[str]) -> str:
    if "messages" in columns:
        return "conversation"
    if "chosen" in columns:
        return "preference"
    return "pair"


def _no_transform(image) -> None:
    """The trainer decodes every image (`bad_image`); pixels are not needed here."""
    return None


def trainer_sample_builder(schema: str, tokenizer: str, num_patches: int, max_length: int):
    """The trainer's SampleBuilder for `schema`, with the trainer's tokenizer loader and prompt encoder."""
    from training.data.prompting import PromptEncoder
    from training.model.lm import load_tokenizer
    from training.stages import sample_builder

    encoder = PromptEncoder(load_tokenizer(tokenizer), num_patches, max_length)
    return sample_builder(schema, encoder, _no_transform)


@register("conversation_validate")
@dataclasses.dataclass
class ConversationValidate(Filter):
    """Encode every row with the trainer's prompt encoder; drop what the trainer would drop, with its reason.

    `tokenizer` (hub name or local folder with a chat template), `num_patches` (image tokens per image: 576 for
    ViT-L/14-336) and `max_length` must be those of the training config. `schema`: `auto` (by columns),
    `conversation`, `preference` or `pair`. Rules are the trainer's drop reasons: `bad_conversation`,
    `image_count_mismatch`, `truncated_image`, `fully_masked`, `bad_image`, `empty_text`. Writes `num_tokens`
    (for preference rows, the longer of chosen / rejected).
    """

    provides = ("num_tokens",)

    ranges = {"num_patches": AT_LEAST_0, "max_length": POSITIVE}

    tokenizer: str = "Qwen/Qwen2.5-0.5B-Instruct"
    num_patches: int = 576
    max_length: int = 2048
    schema: str = "auto"

    def validate(self) -> None:
        if self.schema not in SCHEMAS:
            raise ValueError(f"schema must be one of {', '.join(SCHEMAS)}")
        if self.num_patches < 1 or self.max_length < 1:
            raise ValueError("num_patches and max_length must be >= 1")

    def setup(self) -> None:
        self._builders: dict[str, object] = {}

    def _builder(self, schema: str):
        if schema not in self._builders:
            self._builders[schema] = trainer_sample_builder(
                schema, self.tokenizer, self.num_patches, self.max_length
            )
        return self._builders[schema]

    def evaluate(self, batch: pa.Table) -> pa.Table:
        from training.data.prompting import DropSample

        if not hasattr(self, "_builders"):
            self.setup()
        schema = _schema_of(batch.column_names) if self.schema == "auto" else self.schema
        build = self._builder(schema)
        tokens, reasons = [], []
        for row in batch.to_pylist():
            try:
                sample = build(row)
            except DropSample as drop:
                tokens.append(None)
                reasons.append(drop.reason)
                continue
            encoded = [sample.encoded] if hasattr(sample, "encoded") else [sample.chosen, sample.rejected]
            tokens.append(max(len(e.input_ids) for e in encoded))
            reasons.append(None)
        batch = set_column(batch, "num_tokens", pa.array(tokens, pa.int32()))
        return with_drop(batch, reasons)
