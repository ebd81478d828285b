"""DeepSpeed engine construction: ZeRO config, precision, parameter groups with their own lr, cosine schedule."""

from __future__ import annotations

import math

import deepspeed
import torch
from deepspeed.accelerator import get_accelerator
from torch import nn
from transformers import get_cosine_with_min_lr_schedule_with_warmup

from training.config import Config


def on_gpu() -> bool:
    return get_accelerator().device_name() != "cpu"


def use_bf16(cfg: Config) -> bool:
    """bf16 on GPU, fp32 on CPU, unless the config forces one."""
    if cfg.deepspeed.precision == "auto":
        return on_gpu()
    return cfg.deepspeed.precision == "bf16"


def deepspeed_config(cfg: Config) -> dict:
    """The DeepSpeed JSON config for this run."""
    ds = cfg.deepspeed
    zero: dict = {"stage": ds.zero_stage}
    if ds.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": on_gpu()}
    if ds.offload_param:
        if ds.zero_stage != 3:
            raise ValueError("deepspeed.offload_param needs zero_stage 3")
        zero["offload_param"] = {"device": "cpu", "pin_memory": on_gpu()}
    return {
        "train_micro_batch_size_per_gpu": cfg.train.micro_batch_size,
        "gradient_accumulation_steps": cfg.train.grad_accum,
        "gradient_clipping": cfg.train.grad_clip,
        "zero_optimization": zero,
        "bf16": {"enabled": use_bf16(cfg)},
        "zero_allow_untested_optimizer": True,
        "zero_force_ds_cpu_optimizer": False,
        "steps_per_print": 2**31 - 1,
        "wall_clock_breakdown": False,
    }


def param_groups(model: nn.Module, lrs: dict[str, float], weight_decay: float) -> list[dict]:
    """One optimizer group per top-level component (vision / projector / lm) that has trainable parameters."""
    groups = []
    for component, lr in lrs.items():
        params = [p for p in getattr(model, component).parameters() if p.requires_grad]
        if params:
            groups.append({"name": component, "params": params, "lr": lr, "weight_decay": weight_decay})
    if not groups:
        raise ValueError("no trainable parameters")
    return groups


def describe_trainable(model: nn.Module) -> str:
    """A readable summary of which parameters train (logged at start)."""
    total = sum(p.numel() for p in model.parameters())
    trainable = [(n, p.numel()) for n, p in model.named_parameters() if p.requires_grad]
    count = sum(n for _, n in trainable)
    by_component: dict[str, int] = {}
    for name, n in trainable:
        by_component[name.split(".")[0]] = by_component.get(name.split(".")[0], 0) + n
    lines = [f"trainable parameters: {count:,} of {total:,} ({100 * count / max(total, 1):.2f}%)"]
    lines += [f"  {component}: {n:,}" for component, n in sorted(by_component.items())]
    lines += [f"    {name}" for name, _ in trainable[:50]]
    if len(trainable) > 50:
        lines.append(f"    ... and {len(trainable) - 50} more tensors")
    return "\n".join(lines)


def build_engine(model: nn.Module, groups: list[dict], cfg: Config):
    """Wrap `model` in a DeepSpeed engine with AdamW over `groups` and a warmup + cosine schedule."""
    if cfg.deepspeed.offload_optimizer and on_gpu():
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        optimizer = DeepSpeedCPUAdam(groups, adamw_mode=True)
    else:
        optimizer = torch.optim.AdamW(groups)
    warmup = math.ceil(cfg.train.warmup_ratio * cfg.train.max_steps)

    def schedule(opt):
        return get_cosine_with_min_lr_schedule_with_warmup(
            opt,
            num_warmup_steps=warmup,
            num_training_steps=cfg.train.max_steps,
            min_lr_rate=cfg.train.min_lr_ratio,
        )

    engine, _, _, scheduler = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=schedule, config=deepspeed_config(cfg)
    )
    return engine, scheduler
