"""Stage 1 (align): image-caption pairs (`pair` schema); only the projector trains; hands off the projector."""

from __future__ import annotations

from pathlib import Path

from training.config import Config, ConfigError
from training.data.prompting import IMAGE_TAG, DropSample, PromptEncoder
from training.data.samples import SFTSample, decode_images
from training.model.projector import save_projector
from training.model.vision import ImageTransform
from training.model.vlm import VLM
from training.stages.base import Stage


class PairSamples:
    """A caption row -> one user turn holding the image, one assistant turn holding the caption."""

    def __init__(self, encoder: PromptEncoder, transform: ImageTransform) -> None:
        self.encoder = encoder
        self.transform = transform

    def __call__(self, row: dict) -> SFTSample:
        caption = (row.get("caption") or "").strip()
        if not caption:
            raise DropSample("empty_text", "empty caption")
        messages = [{"role": "user", "content": IMAGE_TAG}, {"role": "assistant", "content": caption}]
        return SFTSample(self.encoder.encode(messages, 1), decode_images([row["image"]], self.transform))


class AlignStage(Stage):
    """Only the projector trains (the stage-1 hand-off)."""

    schema = "pair"
    samples = PairSamples

    @classmethod
    def validate(cls, cfg: Config) -> None:
        super().validate(cfg)
        if cfg.model.init_from:
            raise ConfigError(
                "model.init_from: align starts from the pretrained LM and encoder, not an export"
            )

    def configure(self, model: VLM) -> dict[str, float]:
        self.freeze(model)
        for p in model.projector.parameters():
            p.requires_grad_(True)
        return {"projector": self.cfg.train.lr_of("projector")}

    def handoff(self, engine, run_dir: Path, target: Path, rank: int) -> None:
        """The projector artifact (`model.projector.checkpoint` of stage 2)."""
        module = engine.module
        with self.gathered(engine, list(module.projector.parameters())):
            if rank == 0:
                lm_dim = module.lm.config.get_text_config().hidden_size
                state = {k: v.detach().clone() for k, v in module.projector.state_dict().items()}
                save_projector(
                    state, self.cfg.model.projector.type, module.vision.hidden_size, lm_dim, target
                )
