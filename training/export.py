"""Export a checkpoint as a model others can load.

`<out>/lm/` is the causal LM (LoRA merged) + tokenizer via HF `save_pretrained`; `<out>/projector/` the
projector artifact; `<out>/vision/vision.safetensors` the encoder weights and `<out>/vision/architecture/` what
rebuilds the encoder offline; `<out>/vlm.json` ties them together with paths relative to `<out>` (the folder can
be moved or copied anywhere) and is what `model.init_from` reads. With an HF CLIP/SigLIP encoder and the
mlp2x_gelu projector, `<out>/llava/` is also written in the HF LLaVA format.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import torch
import yaml
from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint
from safetensors.torch import save_file

from curation.io.output_paths import check_target_folder, remove_entries
from training.checkpoint import COMPLETE, latest_tag
from training.config import Config, load_config
from training.llava import export_llava, llava_supported
from training.model.build import (
    EXPORT_META,
    VISION_ARCHITECTURE,
    VISION_WEIGHTS,
    build_vlm,
    resolve_model_config,
)
from training.model.projector import save_projector
from training.model.vlm import VLM
from training.preflight import CONFIG_NAME

EXPORT_ENTRIES = ("lm", "projector", "vision", "llava", EXPORT_META)  # what `export_model` writes


def run_config_data(cfg: Config) -> dict:
    """The run's config as recorded in `config.yaml`: absolute paths and, with `init_from`, the components it
    started from."""
    resolved, _ = resolve_model_config(cfg.model)
    return dataclasses.asdict(dataclasses.replace(cfg, model=resolved))


def save_run_config(cfg: Config, out_dir: Path) -> None:
    """Write the run's config (`run_config_data`) as `config.yaml`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CONFIG_NAME).write_text(yaml.safe_dump(run_config_data(cfg), sort_keys=False))


def export_model(model: VLM, tokenizer, cfg: Config, out_dir: Path) -> None:
    """Write an in-memory (unwrapped, fully materialised) VLM in the export layout."""
    out_dir = Path(out_dir)
    resolved, _ = resolve_model_config(cfg.model)
    lm = model.lm.merge_and_unload() if hasattr(model.lm, "merge_and_unload") else model.lm
    lm.save_pretrained(str(out_dir / "lm"))
    tokenizer.save_pretrained(str(out_dir / "lm"))
    projector = model.projector
    lm_dim = lm.config.get_text_config().hidden_size
    save_projector(
        projector.state_dict(),
        resolved.projector.type,
        model.vision.hidden_size,
        lm_dim,
        out_dir / "projector",
    )
    (out_dir / VISION_WEIGHTS).parent.mkdir(parents=True, exist_ok=True)
    vision_state = {k: v.detach().contiguous() for k, v in model.vision.state_dict().items()}
    save_file(vision_state, str(out_dir / VISION_WEIGHTS))
    # the architecture is rebuilt from the copy written here; weights always come from vision.safetensors
    model.vision.save_architecture(out_dir / VISION_ARCHITECTURE)
    vision_cfg = dataclasses.replace(
        resolved.vision, name=VISION_ARCHITECTURE, pretrained=None, random_init=True
    )
    meta = {
        "vision": dataclasses.asdict(vision_cfg),
        "projector_type": resolved.projector.type,
        "num_patches": model.vision.num_patches,
        "image_tag": "<image>",
        "stage": cfg.stage,
    }
    (out_dir / EXPORT_META).write_text(json.dumps(meta, indent=2))
    if llava_supported(model, resolved.projector.type):
        export_llava(model, lm, tokenizer, resolved.projector.type, out_dir / "llava")


def load_trained(run_dir: str | Path, tag: str | None = None) -> tuple[VLM, object, Config]:
    """Rebuild a run's model and load the fp32 weights of a checkpoint (default: the latest)."""
    from training.stages import stage_class

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_NAME).is_file():
        raise FileNotFoundError(f"{run_dir}: not a training run (no {CONFIG_NAME})")
    cfg = load_config(run_dir / CONFIG_NAME)
    root = run_dir / "checkpoints"
    tag = tag or latest_tag(root)
    if tag is None:
        raise FileNotFoundError(f"{root}: no complete checkpoint")
    if not (root / tag / COMPLETE).is_file():  # absent, or cut short by a killed run
        complete = sorted(p.name for p in root.glob("step-*") if (p / COMPLETE).is_file())
        raise FileNotFoundError(
            f"{root / tag}: not a complete checkpoint; complete ones: {complete or 'none'}"
        )
    model, tokenizer = build_vlm(cfg.model, cfg.seed)
    torch.manual_seed(cfg.seed)
    stage_class(cfg.stage)(cfg, tokenizer.pad_token_id).configure(
        model
    )  # same structure (LoRA) as in training
    state = get_fp32_state_dict_from_zero_checkpoint(str(root), tag=tag)
    model.load_state_dict(state, strict=True)
    return model, tokenizer, cfg


def _not_exported(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in EXPORT_ENTRIES)


def export_checkpoint(
    run_dir: str | Path, out_dir: str | Path, tag: str | None = None, overwrite: bool = False
) -> Path:
    """`train export`: checkpoint of a run -> export layout. `out_dir` must be absent or empty, or (with
    `overwrite`) hold only an earlier export, which is replaced once the new one is complete."""
    out_dir = Path(out_dir)
    replace = check_target_folder(out_dir, overwrite, _not_exported)  # before the slow load
    model, tokenizer, cfg = load_trained(run_dir, tag)
    # written beside the target and moved in once complete (vlm.json, which readers look for, last): an export
    # that fails or is killed leaves the earlier one, never a partial one
    staging = out_dir.parent / f".{out_dir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    export_model(model, tokenizer, cfg, staging)
    if replace:
        remove_entries(out_dir, EXPORT_ENTRIES)
    out_dir.mkdir(parents=True, exist_ok=True)
    for entry in sorted(staging.iterdir(), key=lambda p: p.name == EXPORT_META):
        entry.rename(out_dir / entry.name)
    staging.rmdir()
    return out_dir
