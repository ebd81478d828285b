"""Stage 1 (align): image-caption pairs; only the projector trains."""

from __future__ import annotations

from training.model.vlm import VLM
from training.stages.base import Stage


class AlignStage(Stage):
    """Only the projector trains (the stage-1 hand-off)."""

    def configure(self, model: VLM) -> dict[str, float]:
        self.freeze(model)
        for p in model.projector.parameters():
            p.requires_grad_(True)
        return {"projector": self.cfg.train.projector_lr or self.cfg.train.lr}
