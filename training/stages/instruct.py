"""Stage 2 (instruct): conversations (`conversation` schema); projector + LM (full, LoRA or QLoRA), optionally
the vision tower; hands off the whole model in the export layout."""

from __future__ import annotations

from training.data.prompting import PromptEncoder
from training.data.samples import SFTSample, decode_images
from training.model.vision import ImageTransform
from training.model.vlm import VLM
from training.stages.base import Stage


class ConversationSamples:
    """A conversation row -> its tokenised turns (assistant tokens labelled) and decoded images."""

    def __init__(self, encoder: PromptEncoder, transform: ImageTransform) -> None:
        self.encoder = encoder
        self.transform = transform

    def __call__(self, row: dict) -> SFTSample:
        images = row.get("images") or []
        encoded = self.encoder.encode(row.get("messages") or [], len(images))
        return SFTSample(encoded, decode_images(images, self.transform))


def configure_trainable(stage: Stage, model: VLM) -> dict[str, float]:
    """Projector always; LM fully or through LoRA adapters; vision tower if `train.train_vision`."""
    t = stage.cfg.train
    stage.freeze(model)
    for p in model.projector.parameters():
        p.requires_grad_(True)
    lrs = {"projector": t.lr_of("projector")}
    if t.lora is not None:
        from peft import LoraConfig, get_peft_model

        if stage.cfg.model.lm.quantization != "none":
            from peft import prepare_model_for_kbit_training

            model.lm = prepare_model_for_kbit_training(
                model.lm, use_gradient_checkpointing=t.gradient_checkpointing
            )
        lora = LoraConfig(
            r=t.lora.r,
            lora_alpha=t.lora.alpha,
            lora_dropout=t.lora.dropout,
            target_modules=t.lora.target_modules,
        )
        model.lm = get_peft_model(model.lm, lora)
        lrs["lm"] = t.lr
    elif t.train_lm:
        for p in model.lm.parameters():
            p.requires_grad_(True)
        lrs["lm"] = t.lr
    if t.train_vision:
        for p in model.vision.parameters():
            p.requires_grad_(True)
        lrs["vision"] = t.lr_of("vision")
    return lrs


class InstructStage(Stage):
    """Projector + LM (full or LoRA), optionally the vision tower; SFT loss on assistant tokens."""

    schema = "conversation"
    samples = ConversationSamples

    def configure(self, model: VLM) -> dict[str, float]:
        return configure_trainable(self, model)
