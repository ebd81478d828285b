"""What a stage decides: which parameters train (and with which lr), how samples batch, and the loss."""

from __future__ import annotations

from functools import partial

import torch
import torch.distributed as dist
from torch import nn

from training.config import Config
from training.data.collate import collate_sft
from training.data.prompting import IGNORE_INDEX
from training.model.vlm import VLM


def token_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence sum of log p(label) over labelled positions, and the number of labelled positions."""
    logits, labels = logits[:, :-1].float(), labels[:, 1:]
    mask = labels != IGNORE_INDEX
    logp = torch.log_softmax(logits, dim=-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (logp * mask).sum(-1), mask.sum(-1)


def global_sum(value: float, device: torch.device) -> float:
    """Sum a number over all ranks (used to normalise losses by global token/pair counts)."""
    t = torch.tensor([value], dtype=torch.float64, device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
    return float(t.item())


def dummy_batch(pad_id: int) -> dict:
    """A one-token, label-free batch: lets a rank whose window was fully dropped still run forward/backward."""
    return {
        "input_ids": torch.tensor([[pad_id]]),
        "attention_mask": torch.ones(1, 1, dtype=torch.long),
        "labels": torch.full((1, 1), IGNORE_INDEX),
        "pixel_values": None,
    }


class Stage:
    """Base: supervised next-token loss on assistant tokens."""

    stat_keys: tuple[str, ...] = ("loss_sum", "loss_tokens")

    def __init__(self, cfg: Config, pad_id: int) -> None:
        self.cfg = cfg
        self.pad_id = pad_id

    def collate(self):
        return partial(collate_sft, pad_id=self.pad_id)

    def configure(self, model: VLM) -> dict[str, float]:
        """Set requires_grad (and wrap with LoRA if asked); return the lr of each trainable component."""
        raise NotImplementedError

    def after_engine(self, engine) -> None:
        """Hook for stages that need the engine (e.g. a reference model)."""

    def loss(self, engine, batch: dict, world: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss to backpropagate (normalised by the global token count) and summable statistics."""
        if not batch.get("samples"):
            batch = dummy_batch(self.pad_id)
        device = engine.device
        labels = batch["labels"].to(device)
        n_tokens = int((labels[:, 1:] != IGNORE_INDEX).sum())
        total = global_sum(n_tokens, device)
        logits = engine(
            batch["input_ids"].to(device), batch["attention_mask"].to(device), batch["pixel_values"]
        )
        logp_sum, _ = token_logps(logits, labels)
        loss_sum = -logp_sum.sum()
        loss = loss_sum * world / max(total, 1.0)
        stats = {"loss_sum": float(loss_sum.detach()), "loss_tokens": n_tokens}
        return loss, stats

    def summarize(self, totals: dict[str, float]) -> dict[str, float]:
        """Turn globally summed statistics into the logged values."""
        return {"loss": totals["loss_sum"] / max(totals["loss_tokens"], 1.0)}

    @staticmethod
    def freeze(module: nn.Module) -> None:
        for p in module.parameters():
            p.requires_grad_(False)
