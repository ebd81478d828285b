"""Stage 2 (instruct): conversations; projector + LM (full or LoRA), optionally the vision tower."""

from __future__ import annotations

from peft import LoraConfig, get_peft_model

from training.model.vlm import VLM
from training.stages.base import Stage


def configure_trainable(stage: Stage, model: VLM) -> dict[str, float]:
    """Projector always; LM fully or through LoRA adapters; vision tower if `train.train_vision`."""
    t = stage.cfg.train
    stage.freeze(model)
    for p in model.projector.parameters():
        p.requires_grad_(True)
    lrs = {"projector": t.projector_lr or t.lr}
    if t.lora is not None:
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
        lrs["vision"] = t.vision_lr or t.lr
    return lrs


class InstructStage(Stage):
    """Projector + LM (full or LoRA), optionally the vision tower; SFT loss on assistant tokens."""

    def configure(self, model: VLM) -> dict[str, float]:
        return configure_trainable(self, model)
