"""A tiny random open_clip model saved in the on-disk format of a real local model folder."""

from __future__ import annotations

import json
from pathlib import Path

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def build_tiny_clip(out_dir: Path, seed: int = 0, vocab_size: int | None = None) -> Path:
    """Save open_clip_config.json + open_clip_model.safetensors; load it with the folder path as the model name.
    `vocab_size`: the text tower's token embeddings (open_clip's tokenizer needs 49408)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    cfg = TINY_CLIP
    if vocab_size is not None:
        cfg = {**TINY_CLIP, "text_cfg": {**TINY_CLIP["text_cfg"], "vocab_size": vocab_size}}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": cfg, "preprocess_cfg": {"size": 64}})
    )
    torch.manual_seed(seed)
    model = open_clip.CLIP(**cfg)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(out_dir / "open_clip_model.safetensors"),
    )
    return out_dir
