"""Vision towers: patch tokens from a chosen transformer layer of an open_clip or HF CLIP/SigLIP encoder.

A model reference is either a registry name (open_clip built-in name + pretrained tag/file, or a hub id)
or a local directory; the same loading code accepts both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from training.config import VisionConfig

ImageTransform = Callable[[Image.Image], torch.Tensor]


class VisionTower(nn.Module):
    """Common interface: `forward(pixels) -> [n_images, num_patches, hidden_size]` plus `preprocess`."""

    hidden_size: int
    num_patches: int
    image_size: int
    preprocess: ImageTransform

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        raise NotImplementedError

    def save_architecture(self, out_dir: Path) -> None:
        """Write what rebuilds this architecture and its preprocessing offline, without weights, to `out_dir`
        (loadable as a local `name` of the same source)."""
        raise NotImplementedError


class OpenClipTower(VisionTower):
    """open_clip ViT; a directory holding `open_clip_config.json` (+ weights) is loaded as `local-dir:`."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        import open_clip

        name, pretrained = cfg.name, cfg.pretrained
        if Path(name).is_dir():
            name, pretrained = f"local-dir:{name}", None
        if cfg.random_init:
            pretrained = None
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=pretrained)
        self.architecture = {
            "model_cfg": open_clip.get_model_config(name),
            "preprocess_cfg": open_clip.get_model_preprocess_cfg(model),
        }
        visual = model.visual
        if not hasattr(visual, "forward_intermediates") or not hasattr(visual, "transformer"):
            raise ValueError(f"open_clip model {cfg.name!r} has no ViT tower with intermediate outputs")
        blocks = len(visual.transformer.resblocks)
        if not -blocks <= cfg.layer < blocks:
            raise ValueError(f"vision.layer {cfg.layer} out of range for a {blocks}-block encoder")
        self.layer = cfg.layer % blocks
        visual.prune_intermediate_layers([self.layer], prune_norm=True, prune_head=True)
        self.visual = visual
        self.hidden_size = visual.transformer.width
        self.num_patches = int(visual.grid_size[0] * visual.grid_size[1])
        self.image_size = int(visual.image_size[0])
        self.preprocess = preprocess

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        self.visual.set_grad_checkpointing(enabled)

    def save_architecture(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "open_clip_config.json").write_text(json.dumps(self.architecture, indent=2))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        out = self.visual.forward_intermediates(
            pixels, indices=[self.layer], stop_early=True, intermediates_only=True, output_fmt="NLC"
        )
        return out["image_intermediates"][0]


class HFImageTransform:
    """PIL image -> pixel tensor through an HF image processor (picklable for loader workers)."""

    def __init__(self, processor) -> None:
        self.processor = processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]


class HFVisionTower(VisionTower):
    """HF CLIP or SigLIP vision model; CLIP's class token is dropped, SigLIP has none."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        from transformers import AutoConfig, AutoImageProcessor, CLIPVisionModel, SiglipVisionModel

        config = AutoConfig.from_pretrained(cfg.name)
        kinds = {"clip": CLIPVisionModel, "siglip": SiglipVisionModel}
        kind = config.model_type.removesuffix("_vision_model")
        if kind not in kinds:
            raise ValueError(
                f"{cfg.name}: HF vision source supports CLIP and SigLIP, not {config.model_type!r}"
            )
        vision_config = getattr(config, "vision_config", config)
        model_cls = kinds[kind]
        self.model = model_cls(vision_config) if cfg.random_init else model_cls.from_pretrained(cfg.name)
        self.vision_config = vision_config
        self.prefix_tokens = 1 if kind == "clip" else 0
        blocks = vision_config.num_hidden_layers
        if not -blocks <= cfg.layer < blocks:
            raise ValueError(f"vision.layer {cfg.layer} out of range for a {blocks}-block encoder")
        self.layer = cfg.layer % blocks
        # keep only what produces the chosen layer, so no parameter sits outside the graph
        inner = getattr(self.model, "vision_model", self.model)  # transformers 5 flattened the wrapper
        inner.encoder.layers = inner.encoder.layers[: self.layer + 1]
        inner.post_layernorm = nn.Identity()
        if getattr(inner, "head", None) is not None:
            inner.head = nn.Identity()
        self.hidden_size = vision_config.hidden_size
        self.image_size = vision_config.image_size
        self.num_patches = (vision_config.image_size // vision_config.patch_size) ** 2
        self.preprocess = HFImageTransform(AutoImageProcessor.from_pretrained(cfg.name))

    def save_architecture(self, out_dir: Path) -> None:
        self.vision_config.save_pretrained(str(out_dir))
        self.preprocess.processor.save_pretrained(str(out_dir))

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        if enabled:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=pixels).last_hidden_state[:, self.prefix_tokens :]


VISION_TOWERS: dict[str, type[VisionTower]] = {"open_clip": OpenClipTower, "hf": HFVisionTower}


def build_vision_tower(cfg: VisionConfig) -> VisionTower:
    """Instantiate the configured vision tower."""
    return VISION_TOWERS[cfg.source](cfg)
