"""Assemble a VLM from a model config, or from an exported model directory (`model.init_from`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerBase

from training.config import LMConfig, ModelConfig, ProjectorConfig, VisionConfig
from training.model.lm import load_lm, load_tokenizer
from training.model.projector import build_projector, load_projector_into
from training.model.vision import build_vision_tower
from training.model.vlm import VLM

EXPORT_META = "vlm.json"
VISION_WEIGHTS = "vision/vision.safetensors"
VISION_ARCHITECTURE = "vision/architecture"


def resolve_model_config(cfg: ModelConfig) -> tuple[ModelConfig, Path | None]:
    """With `init_from`, replace the component references by those of the exported model."""
    if not cfg.init_from:
        return cfg, None
    root = Path(cfg.init_from)
    meta_path = root / EXPORT_META
    if not meta_path.is_file():
        raise FileNotFoundError(f"model.init_from: {root} is not an exported model (no {EXPORT_META})")
    meta = json.loads(meta_path.read_text())
    vision = VisionConfig(**meta["vision"])
    vision = dataclasses.replace(vision, name=str(root / vision.name))  # stored relative to the export
    resolved = dataclasses.replace(
        cfg,
        vision=vision,
        projector=ProjectorConfig(type=meta["projector_type"], checkpoint=str(root / "projector")),
        lm=LMConfig(name=str(root / "lm")),
    )
    vision_weights = root / VISION_WEIGHTS
    return resolved, vision_weights if vision_weights.is_file() else None


def build_vlm(
    cfg: ModelConfig, seed: int = 0, ds_config: dict | None = None
) -> tuple[VLM, PreTrainedTokenizerBase]:
    """Build the model (random parts initialised from `seed`) and its tokenizer.

    With a ZeRO-3 `ds_config` the LM is built inside `deepspeed.zero.Init` (transformers' DeepSpeed path):
    each rank materialises one parameter at a time and keeps only its shard, so no rank ever holds the whole LM.
    """
    cfg, vision_weights = resolve_model_config(cfg)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        vision = build_vision_tower(cfg.vision)
        if vision_weights is not None:
            vision.load_state_dict(load_file(str(vision_weights)))
        lm = load_lm(cfg.lm, attn_implementation=cfg.attn_implementation, ds_config=ds_config)
    tokenizer = load_tokenizer(cfg.lm.name)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        projector = build_projector(
            cfg.projector.type, vision.hidden_size, lm.config.get_text_config().hidden_size
        )
    if cfg.projector.checkpoint:
        load_projector_into(projector, cfg.projector.type, cfg.projector.checkpoint)
    return VLM(vision, projector, lm), tokenizer
