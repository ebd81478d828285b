"""DeepSpeed engine construction: ZeRO config, precision, parameter groups with their own lr, cosine schedule."""

from __future__ import annotations

import math

import deepspeed
import torch
from deepspeed.accelerator import get_accelerator
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from training.config import Config


def on_gpu() -> bool:
    return get_accelerator().device_name() != "cpu"


def precision(cfg: Config) -> str:
    """bf16 on GPU, fp32 on CPU, unless the config names one."""
    if cfg.deepspeed.precision == "auto":
        return "bf16" if on_gpu() else "fp32"
    return cfg.deepspeed.precision


def use_bf16(cfg: Config) -> bool:
    return precision(cfg) == "bf16"


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
        "bf16": {"enabled": precision(cfg) == "bf16"},
        # fp16 trains with dynamic loss scaling: the scale halves on overflow (that step is skipped) and
        # doubles again after `loss_scale_window` clean steps
        "fp16": {
            "enabled": precision(cfg) == "fp16",
            "loss_scale": 0,
            "initial_scale_power": ds.initial_scale_power,
            "loss_scale_window": 1000,
            "hysteresis": 2,
            "min_loss_scale": 1,
        },
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

    def size(p: nn.Parameter) -> int:
        return getattr(p, "ds_numel", p.numel())  # a ZeRO-3 partitioned parameter reports its whole size

    total = sum(size(p) for p in model.parameters())
    trainable = [(n, size(p)) for n, p in model.named_parameters() if p.requires_grad]
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


def reference_config(cfg: Config, engine) -> dict:
    """DeepSpeed config of a frozen model evaluated beside `engine` (the DPO reference): same ZeRO stage and
    precision, no optimizer; under ZeRO-3 its parameters are partitioned like the policy's."""
    config = deepspeed_config(cfg)
    stage = engine.zero_optimization_stage()
    config["zero_optimization"] = {"stage": 3 if stage == 3 else 0}
    if stage == 3 and cfg.deepspeed.offload_param:
        config["zero_optimization"]["offload_param"] = {"device": "cpu", "pin_memory": on_gpu()}
    return config


def cosine_schedule(
    optimizer, num_warmup_steps: int, num_training_steps: int, min_lr_rate: float
) -> LambdaLR:
    """Linear warmup from 0, then a half cosine down to `min_lr_rate` x each group's lr: the same factors as
    transformers' `get_cosine_with_min_lr_schedule_with_warmup` (num_cycles 0.5), written here because importing
    `transformers.optimization` pulls in peft and bitsandbytes, seconds of start-up on every rank."""

    def factor(step: int) -> float:
        if step < num_warmup_steps:
            return float(step) / float(max(1, num_warmup_steps))
        progress = float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
        cosine = 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress))
        return max(0, cosine * (1 - min_lr_rate) + min_lr_rate)

    return LambdaLR(optimizer, factor)


def build_engine(model: nn.Module, groups: list[dict], cfg: Config, total_steps: int):
    """Wrap `model` in a DeepSpeed engine with AdamW over `groups` and a warmup + cosine schedule."""
    if cfg.deepspeed.offload_optimizer and on_gpu():
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        optimizer = DeepSpeedCPUAdam(groups, adamw_mode=True)
    else:
        optimizer = torch.optim.AdamW(groups)
    warmup = math.ceil(cfg.train.warmup_ratio * total_steps)

    def schedule(opt):
        return cosine_schedule(opt, warmup, total_steps, cfg.train.min_lr_ratio)

    engine, _, _, scheduler = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=schedule, config=deepspeed_config(cfg)
    )
    return engine, scheduler
