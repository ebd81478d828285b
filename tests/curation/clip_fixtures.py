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


def build_tiny_hf_text_clip(out_dir: Path, vocab_size: int) -> Path:
    """A tiny open_clip whose text tower is a Hugging Face BERT of `vocab_size` token embeddings (its config in
    `out_dir/bert`), with a 104-token word-level tokenizer in the model folder, where open_clip reads it."""
    import open_clip
    import torch
    from safetensors.torch import save_file
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *(f"w{i}" for i in range(96)), "a", "photo", "of", "dog"]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, **specials).save_pretrained(out_dir)
    bert = out_dir / "bert"
    BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    ).save_pretrained(bert)
    cfg = {
        "embed_dim": 32,
        "vision_cfg": TINY_CLIP["vision_cfg"],
        "text_cfg": {
            "hf_model_name": str(bert),
            "hf_tokenizer_name": str(bert),
            "hf_model_pretrained": False,
            "hf_proj_type": "linear",
            "hf_pooler_type": "cls_pooler",
            "context_length": 16,
        },
    }
    (out_dir / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": cfg, "preprocess_cfg": {"size": 64}})
    )
    torch.manual_seed(0)
    model = open_clip.CustomTextCLIP(**cfg)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(out_dir / "open_clip_model.safetensors"),
    )
    return out_dir
