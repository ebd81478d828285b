"""Stage 3 (preference): DPO with the sigmoid or IPO loss against a reference policy.

The reference is a frozen copy of the starting model, the policy itself with LoRA disabled, or
log-probs precomputed offline (columns `ref_chosen_logp` / `ref_rejected_logp`, summed over response tokens).
"""

from __future__ import annotations

import copy
from functools import partial

import torch
import torch.nn.functional as F

from training.data.collate import collate_preference
from training.data.prompting import IGNORE_INDEX
from training.model.vlm import VLM
from training.stages.base import Stage, global_sum, token_logps
from training.stages.instruct import configure_trainable


def dpo_losses(
    policy: tuple[torch.Tensor, torch.Tensor],
    reference: tuple[torch.Tensor, torch.Tensor],
    beta: float,
    kind: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair losses and the implicit rewards of chosen and rejected responses."""
    logits = (policy[0] - policy[1]) - (reference[0] - reference[1])
    if kind == "sigmoid":
        losses = -F.logsigmoid(beta * logits)
    elif kind == "ipo":
        losses = (logits - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"unknown DPO loss {kind!r}")
    chosen_rewards = beta * (policy[0] - reference[0]).detach()
    rejected_rewards = beta * (policy[1] - reference[1]).detach()
    return losses, chosen_rewards, rejected_rewards


class DPOStage(Stage):
    """DPO on preference pairs; policy parameters as in instruct."""

    stat_keys = (
        "loss_sum",
        "pairs",
        "reward_acc_sum",
        "margin_sum",
        "chosen_reward_sum",
        "rejected_reward_sum",
    )

    def __init__(self, cfg, pad_id: int) -> None:
        super().__init__(cfg, pad_id)
        self.reference: VLM | None = None

    def collate(self):
        return partial(collate_preference, pad_id=self.pad_id)

    def configure(self, model: VLM) -> dict[str, float]:
        if self.cfg.dpo.reference == "copy":
            self.reference = copy.deepcopy(model).eval()
            self.freeze(self.reference)
        return configure_trainable(self, model)

    def after_engine(self, engine) -> None:
        if self.reference is not None:
            dtype = torch.bfloat16 if engine.bfloat16_enabled() else torch.float32
            self.reference.to(device=engine.device, dtype=dtype)

    def summarize(self, totals: dict[str, float]) -> dict[str, float]:
        n = max(totals["pairs"], 1.0)
        return {
            "loss": totals["loss_sum"] / n,
            "reward_accuracy": totals["reward_acc_sum"] / n,
            "reward_margin": totals["margin_sum"] / n,
            "reward_chosen": totals["chosen_reward_sum"] / n,
            "reward_rejected": totals["rejected_reward_sum"] / n,
        }

    def _dummy(self) -> dict:
        batch = {
            "input_ids": torch.full((2, 1), self.pad_id),
            "attention_mask": torch.ones(2, 1, dtype=torch.long),
            "labels": torch.full((2, 1), IGNORE_INDEX),
            "pixel_values": None,
        }
        if self.cfg.dpo.reference == "precomputed":
            batch["ref_logps"] = torch.zeros(1, 2, dtype=torch.float64)
        return batch

    def _reference_logps(self, engine, batch: dict, labels: torch.Tensor) -> torch.Tensor:
        kind = self.cfg.dpo.reference
        if kind == "precomputed":
            ref = batch["ref_logps"].to(engine.device, torch.float32)
            return torch.cat([ref[:, 0], ref[:, 1]])
        args = (
            batch["input_ids"].to(engine.device),
            batch["attention_mask"].to(engine.device),
            batch["pixel_values"],
        )
        with torch.no_grad():
            if kind == "copy":
                logits = self.reference(*args)
            else:
                with engine.module.lm.disable_adapter():
                    logits = engine(*args)
        return token_logps(logits, labels)[0]

    def loss(self, engine, batch: dict, world: int) -> tuple[torch.Tensor, dict[str, float]]:
        pairs = int(batch.get("samples") or 0)
        if not pairs:
            batch = self._dummy()
        device = engine.device
        labels = batch["labels"].to(device)
        total = global_sum(pairs, device)
        ref = self._reference_logps(engine, batch, labels)
        logits = engine(
            batch["input_ids"].to(device), batch["attention_mask"].to(device), batch["pixel_values"]
        )
        logps, counts = token_logps(logits, labels)
        if self.cfg.dpo.loss == "ipo":  # IPO works on length-normalised log-probs
            logps, ref = logps / counts.clamp(min=1), ref / counts.clamp(min=1)
        half = logps.shape[0] // 2
        losses, chosen_r, rejected_r = dpo_losses(
            (logps[:half], logps[half:]), (ref[:half], ref[half:]), self.cfg.dpo.beta, self.cfg.dpo.loss
        )
        weight = 1.0 if pairs else 0.0
        loss = losses.sum() * weight * world / max(total, 1.0)
        stats = {
            "loss_sum": float(losses.detach().sum()) * weight,
            "pairs": pairs,
            "reward_acc_sum": float((chosen_r > rejected_r).sum()) * weight,
            "margin_sum": float((chosen_r - rejected_r).sum()) * weight,
            "chosen_reward_sum": float(chosen_r.sum()) * weight,
            "rejected_reward_sum": float(rejected_r.sum()) * weight,
        }
        return loss, stats
