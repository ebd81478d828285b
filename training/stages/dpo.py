"""Stage 3 (preference): DPO with the sigmoid or IPO loss against a reference policy (`preference` schema).

The reference is a frozen second build of the starting model (`copy`; under ZeRO-3 it is sharded like the policy,
in an inference engine of its own), the policy itself with LoRA disabled, or log-probs precomputed offline
(columns `ref_chosen_logp` / `ref_rejected_logp`, summed over response tokens).
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from training.config import Config, ConfigError
from training.data.collate import collate_preference
from training.data.prompting import IGNORE_INDEX, DropSample, PromptEncoder
from training.data.samples import PreferenceSample, decode_images
from training.model.vision import ImageTransform
from training.model.vlm import VLM
from training.stages.base import SampleBuilder, Stage, forward_logps, global_sum
from training.stages.instruct import configure_trainable

# optional preference columns: reference log-probs precomputed offline, summed over the response tokens
REF_COLUMNS = ("ref_chosen_logp", "ref_rejected_logp")


class PreferenceSamples:
    """A preference row -> the prompt with its chosen and its rejected response (and reference log-probs)."""

    def __init__(self, encoder: PromptEncoder, transform: ImageTransform, ref_logps: bool = False) -> None:
        self.encoder = encoder
        self.transform = transform
        self.ref_logps = ref_logps

    def __call__(self, row: dict) -> PreferenceSample:
        images = row.get("images") or []
        prompt = row.get("prompt") or []
        if not row.get("chosen") or not row.get("rejected"):
            raise DropSample("empty_text", "empty chosen or rejected response")
        chosen = self.encoder.encode(prompt + [{"role": "assistant", "content": row["chosen"]}], len(images))
        rejected = self.encoder.encode(
            prompt + [{"role": "assistant", "content": row["rejected"]}], len(images)
        )
        ref = None
        if self.ref_logps:
            if row.get(REF_COLUMNS[0]) is None or row.get(REF_COLUMNS[1]) is None:
                raise DropSample("missing_reference", "no precomputed reference log-probs")
            ref = (float(row[REF_COLUMNS[0]]), float(row[REF_COLUMNS[1]]))
        return PreferenceSample(chosen, rejected, decode_images(images, self.transform), ref)


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

    schema = "preference"
    samples = PreferenceSamples
    supports_packing = False
    stat_keys = (
        "loss_sum",
        "pairs",
        "reward_acc_sum",
        "margin_sum",
        "chosen_reward_sum",
        "rejected_reward_sum",
    )

    def __init__(self, cfg: Config, pad_id: int) -> None:
        super().__init__(cfg, pad_id)
        self.reference = None  # a frozen VLM, or a DeepSpeed inference engine around one under ZeRO-3

    @classmethod
    def validate(cls, cfg: Config) -> None:
        super().validate(cfg)
        if cfg.dpo.reference == "lora_disabled" and cfg.train.lora is None:
            raise ConfigError("dpo.reference: 'lora_disabled' needs train.lora")

    def extra_columns(self) -> tuple[str, ...]:
        return REF_COLUMNS if self.cfg.dpo.reference == "precomputed" else ()

    def sample_builder(self, encoder: PromptEncoder, transform: ImageTransform) -> SampleBuilder:
        return PreferenceSamples(encoder, transform, ref_logps=self.cfg.dpo.reference == "precomputed")

    def collate(self):
        return partial(collate_preference, pad_id=self.pad_id)

    def configure(self, model: VLM) -> dict[str, float]:
        return configure_trainable(self, model)

    def after_engine(self, engine) -> None:
        """Build the `copy` reference: a second build of the starting model, sharded like the policy."""
        if self.cfg.dpo.reference != "copy":
            return
        import deepspeed

        from training.engine import reference_config
        from training.model.build import build_vlm

        ds_config = reference_config(self.cfg, engine)
        reference, _ = build_vlm(self.cfg.model, self.cfg.seed, ds_config=ds_config)
        self.freeze(reference)
        if engine.zero_optimization_stage() == 3:
            self.reference = deepspeed.initialize(model=reference, config=ds_config)[0]
        else:
            dtype = torch.bfloat16 if engine.bfloat16_enabled() else torch.float32
            dtype = torch.float16 if engine.fp16_enabled() else dtype
            self.reference = reference.to(device=engine.device, dtype=dtype)
        self.reference.eval()

    def footprint(self) -> dict[str, int]:
        """Parameter elements of the reference held on this rank (its ZeRO-3 shard) and in all."""
        if self.reference is None:
            return {}
        params = list(self.reference.parameters())
        local = sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in params)
        whole = sum(p.ds_numel if hasattr(p, "ds_numel") else p.numel() for p in params)
        return {"reference_local_elements": local, "reference_elements": whole}

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

    def _reference_logps(self, engine, batch: dict) -> torch.Tensor:
        kind = self.cfg.dpo.reference
        if kind == "precomputed":
            ref = batch["ref_logps"].to(engine.device, torch.float32)
            return torch.cat([ref[:, 0], ref[:, 1]])
        with torch.no_grad():
            if kind == "copy":
                return forward_logps(self.reference, batch, engine.device)[0]
            with engine.module.lm.disable_adapter():
                return forward_logps(engine, batch, engine.device)[0]

    def loss(self, engine, batch: dict, world: int) -> tuple[torch.Tensor, dict[str, float]]:
        pairs = int(batch.get("samples") or 0)
        if not pairs:
            batch = self._dummy()
        device = engine.device
        total = global_sum(pairs, device)
        ref = self._reference_logps(engine, batch)
        logps, counts = forward_logps(engine, batch, device)
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
