"""What a stage decides: its data contract (schema, sample builder, collate), which parameters train (and with
which lr), the loss, what it checks in the config, and the hand-off it leaves for the next stage.

Nothing outside `training/stages` tests a stage's name: the trainer, config and export ask the stage.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from training.config import Config, ConfigError
from training.data.collate import collate_sft
from training.data.prompting import IGNORE_INDEX, PromptEncoder
from training.model.vision import ImageTransform
from training.model.vlm import VLM

SampleBuilder = Callable[[dict], object]  # a row of the stage's schema -> a sample, or raises DropSample


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


def forward_logps(engine_or_model, batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence summed label log-probs and label counts of a collated batch (chunked, see VLM.label_logps)."""
    return engine_or_model(
        batch["input_ids"].to(device),
        batch["attention_mask"].to(device) if batch.get("attention_mask") is not None else None,
        batch["pixel_values"],
        labels=batch["labels"].to(device),
        position_ids=batch["position_ids"].to(device) if batch.get("position_ids") is not None else None,
    )


class Stage:
    """Base: supervised next-token loss on assistant tokens. Subclasses set `schema` and `configure`."""

    samples: type  # builds a sample from a row: `samples(encoder, transform)(row)`
    schema: str = ""  # the row contract of the stage's data (a schema name of curation.rows)
    stat_keys: tuple[str, ...] = ("loss_sum", "loss_tokens")
    supports_packing = True

    def __init__(self, cfg: Config, pad_id: int) -> None:
        self.cfg = cfg
        self.pad_id = pad_id

    @classmethod
    def validate(cls, cfg: Config) -> None:
        """Raise ConfigError for settings this stage cannot honour."""
        if cfg.train.packing and not cls.supports_packing:
            raise ConfigError(f"train.packing: stage {cfg.stage!r} does not pack samples")

    def extra_columns(self) -> tuple[str, ...]:
        """Columns the data must have beyond the schema contract."""
        return ()

    def sample_builder(self, encoder: PromptEncoder, transform: ImageTransform) -> SampleBuilder:
        return self.samples(encoder, transform)

    def collate(self) -> Callable[[list], dict]:
        max_len = self.cfg.model.max_length if self.cfg.train.packing else None
        return partial(collate_sft, pad_id=self.pad_id, pack_to=max_len)

    def configure(self, model: VLM) -> dict[str, float]:
        """Set requires_grad (and wrap with LoRA if asked); return the lr of each trainable component."""
        raise NotImplementedError

    def after_engine(self, engine) -> None:
        """Hook for stages that need the engine (e.g. a reference model)."""

    def footprint(self) -> dict[str, int]:
        """Sizes worth reporting about what the stage holds beside the policy (e.g. a reference model)."""
        return {}

    def loss(self, engine, batch: dict, world: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss to backpropagate (normalised by the global token count) and summable statistics."""
        if not batch.get("samples"):
            batch = dummy_batch(self.pad_id)
        device = engine.device
        n_tokens = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        total = global_sum(n_tokens, device)
        logp_sum, _ = forward_logps(engine, batch, device)
        loss_sum = -logp_sum.sum()
        loss = loss_sum * world / max(total, 1.0)
        stats = {"loss_sum": float(loss_sum.detach()), "loss_tokens": n_tokens}
        return loss, stats

    def summarize(self, totals: dict[str, float]) -> dict[str, float]:
        """Turn globally summed statistics into the logged values."""
        return {"loss": totals["loss_sum"] / max(totals["loss_tokens"], 1.0)}

    def handoff(self, engine, run_dir: Path, target: Path, rank: int) -> None:
        """Leave what the next stage starts from: by default the whole model in the export layout."""
        from training.export import export_checkpoint

        if rank == 0:
            export_checkpoint(run_dir, target, overwrite=True)  # a resumed run replaces a cut-off hand-off

    @staticmethod
    def freeze(module: nn.Module) -> None:
        for p in module.parameters():
            p.requires_grad_(False)

    @staticmethod
    def gathered(engine, params: list[nn.Parameter]):
        """A context in which ZeRO-3-partitioned `params` are whole on every rank (a no-op otherwise)."""
        import deepspeed

        return deepspeed.zero.GatheredParameters(params, enabled=engine.zero_optimization_stage() == 3)
