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


def load_lm(cfg: LMConfig, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """Load (or, with `random_init`, only build from its config) the causal LM."""
    if cfg.random_init:
        config = AutoConfig.from_pretrained(cfg.name)
        return AutoModelForCausalLM.from_config(config, dtype=dtype)
    return AutoModelForCausalLM.from_pretrained(cfg.name, dtype=dtype)
