"""Causal LM + tokenizer loading from a hub id or a local directory (same code path for both)."""

from __future__ import annotations

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from training.config import LMConfig


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    """Load the LM's tokenizer; it must carry a chat template."""
    tokenizer = AutoTokenizer.from_pretrained(name)
    if not tokenizer.chat_template:
        raise ValueError(f"{name}: tokenizer has no chat template; use an instruct/chat checkpoint")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def quantization_config():
    """QLoRA's base: 4-bit NF4 weights with double quantisation, bf16 compute (bitsandbytes)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def load_lm(
    cfg: LMConfig,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str | None = None,
    ds_config: dict | None = None,
) -> PreTrainedModel:
    """Load (or, with `random_init`, only build from its config) the causal LM.

    A ZeRO-3 `ds_config` makes transformers build it inside `deepspeed.zero.Init` (sharded as it loads).
    """
    from transformers.integrations import HfDeepSpeedConfig

    zero3 = ds_config is not None and ds_config["zero_optimization"]["stage"] == 3
    keep_alive = HfDeepSpeedConfig(ds_config) if zero3 else None  # transformers reads it through a weakref
    kwargs: dict = {"dtype": dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        if cfg.random_init:
            return AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(cfg.name), **kwargs)
        if cfg.quantization == "nf4":
            kwargs.update(quantization_config=quantization_config(), dtype=torch.bfloat16)
        return AutoModelForCausalLM.from_pretrained(cfg.name, **kwargs)
    finally:
        if keep_alive is not None:
            from transformers.integrations.deepspeed import unset_hf_deepspeed_config

            unset_hf_deepspeed_config()
            del keep_alive
