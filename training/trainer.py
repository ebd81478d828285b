"""The per-rank training loop (what `train launch` runs on every rank)."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import deepspeed
import torch
import torch.distributed as dist

from training.checkpoint import latest_tag, load_checkpoint, save_checkpoint
from training.config import Config
from training.data.prompting import DROP_REASONS, PromptEncoder
from training.data.samples import SampleBuilder
from training.data.stream import BatchStream, StreamSpec, make_loader
from training.distributed import init_process_group
from training.engine import build_engine, describe_trainable, param_groups
from training.export import export_checkpoint, save_run_config
from training.metrics import MetricsWriter
from training.model.build import build_vlm
from training.model.projector import save_projector
from training.stages import STAGES
from training.stages.base import Stage

log = logging.getLogger("training")

# fault injection for the resume tests: rank 0 SIGKILLs itself right after finishing this step
KILL_ENV = "MMCURATE_TRAIN_KILL_AFTER_STEP"
COMMON_KEYS = ("samples", "tokens", *(f"dropped_{r}" for r in DROP_REASONS))


def all_reduce_sums(stats: dict[str, float], keys: tuple[str, ...], device: torch.device) -> dict[str, float]:
    """Sum statistics over ranks; every rank passes the same keys in the same order."""
    t = torch.tensor([float(stats.get(k, 0.0)) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist(), strict=True))


class Trainer:
    """Builds model, engine and data stream for one stage, then runs, logs, evaluates and checkpoints."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        init_process_group()
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.out = Path(cfg.output_dir)
        self.ckpt_root = self.out / "checkpoints"
        if self.rank == 0:
            save_run_config(cfg, self.out)
        torch.manual_seed(cfg.seed)  # identical initialisation on every rank
        model, self.tokenizer = build_vlm(cfg.model, cfg.seed)
        self.stage: Stage = STAGES[cfg.stage](cfg, self.tokenizer.pad_token_id)
        lrs = self.stage.configure(model)
        if self.rank == 0:
            log.info("stage %s, world size %d\n%s", cfg.stage, self.world, describe_trainable(model))
        if cfg.train.gradient_checkpointing:
            model.lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if cfg.train.train_vision:
                model.vision.set_grad_checkpointing(True)
        self.engine, self.scheduler = build_engine(
            model, param_groups(model, lrs, cfg.train.weight_decay), cfg
        )
        self.stage.after_engine(self.engine)
        encoder = PromptEncoder(self.tokenizer, model.vision.num_patches, cfg.model.max_length)
        ref_logps = cfg.stage == "dpo" and cfg.dpo.reference == "precomputed"
        own_builder = getattr(self.stage, "sample_builder", None)  # a stage that owns its rows -> samples
        self.builder = (
            own_builder(encoder, model.vision.preprocess)
            if own_builder
            else SampleBuilder(cfg.schema, encoder, model.vision.preprocess, ref_logps=ref_logps)
        )
        self.keys = COMMON_KEYS + self.stage.stat_keys
        self.metrics = MetricsWriter(self.out, self.rank == 0, cfg.logging.tensorboard)

    def spec(self, sources, seed: int) -> StreamSpec:
        c = self.cfg
        return StreamSpec(
            sources,
            c.schema,
            seed,
            c.data.shuffle,
            self.rank,
            self.world,
            c.train.micro_batch_size,
            c.extra_columns,
        )

    def micro_step(self, batch: dict, stats: dict[str, float], train: bool) -> None:
        loss, step_stats = self.stage.loss(self.engine, batch, self.world)
        if train:
            self.engine.backward(loss)
            self.engine.step()
        for key, value in step_stats.items():
            stats[key] = stats.get(key, 0.0) + value
        stats["samples"] = stats.get("samples", 0.0) + batch["samples"]
        if batch["samples"]:
            stats["tokens"] = stats.get("tokens", 0.0) + float(batch["attention_mask"].sum())
        for reason, n in batch["drops"].items():
            stats[f"dropped_{reason}"] = stats.get(f"dropped_{reason}", 0.0) + n

    def evaluate(self, step: int) -> None:
        ev = self.cfg.data.eval
        stream = BatchStream(
            self.spec(ev.sources, self.cfg.seed + 1), self.builder, self.stage.collate(), 0, ev.batches
        )
        stats: dict[str, float] = {}
        self.engine.eval()
        with torch.no_grad():
            for batch in stream:
                self.micro_step(batch, stats, train=False)
        self.engine.train()
        totals = all_reduce_sums(stats, self.keys, self.engine.device)
        self.metrics.write(
            step, {**self.stage.summarize(totals), "samples": totals["samples"]}, prefix="eval"
        )

    def run(self, resume: bool) -> None:
        c = self.cfg
        step, next_batch, totals = 0, 0, dict.fromkeys(self.keys, 0.0)
        if resume:
            tag = latest_tag(self.ckpt_root)
            if tag is None:
                log.warning(
                    "--resume: no complete checkpoint under %s; starting from scratch", self.ckpt_root
                )
            else:
                state = load_checkpoint(self.engine, self.ckpt_root, tag)
                if state["world"] != self.world:
                    raise RuntimeError(
                        f"checkpoint {tag} was written by {state['world']} ranks, now {self.world}"
                    )
                step, next_batch, totals = state["step"], state["next_batch"], state["totals"]
                log.info("resumed from %s: step %d, next batch %d", tag, step, next_batch)
        # a finite stream, so loader workers end with the run instead of at interpreter shutdown
        stop = next_batch + (c.train.max_steps - step) * c.train.grad_accum
        stream = BatchStream(
            self.spec(c.data.sources, c.seed), self.builder, self.stage.collate(), next_batch, stop
        )
        batches = iter(make_loader(stream, c.data.num_workers))
        empty_steps = 0
        self.engine.train()
        while step < c.train.max_steps:
            step += 1
            start = time.perf_counter()
            stats: dict[str, float] = {}
            for _ in range(c.train.grad_accum):
                batch = next(batches)
                next_batch = batch["batch_index"] + 1
                self.micro_step(batch, stats, train=True)
            reduced = all_reduce_sums(stats, self.keys, self.engine.device)
            elapsed = time.perf_counter() - start
            totals = {k: totals[k] + reduced[k] for k in self.keys}
            empty_steps = 0 if reduced["samples"] else empty_steps + 1
            if empty_steps * c.train.grad_accum >= c.data.max_empty_batches:
                raise RuntimeError(
                    f"no usable sample in the last {empty_steps} steps; see the dropped_* counts: {totals}"
                )
            if step % c.logging.every == 0 or step == c.train.max_steps:
                self.log_step(step, reduced, totals, elapsed)
            if c.data.eval.every and c.data.eval.sources and step % c.data.eval.every == 0:
                self.evaluate(step)
            if step % c.checkpoint.every == 0 or step == c.train.max_steps:
                rank_state = {"step": step, "next_batch": next_batch, "world": self.world, "totals": totals}
                save_checkpoint(self.engine, self.ckpt_root, step, rank_state, c.checkpoint.keep)
            if os.environ.get(KILL_ENV) == str(step) and self.rank == 0:
                os.kill(os.getpid(), signal.SIGKILL)
        for _ in batches:  # exhausts the loader so its workers exit now, not at interpreter shutdown
            pass
        self.handoff()
        self.metrics.close()
        log.info("done")
        dist.destroy_process_group()

    def log_step(
        self, step: int, reduced: dict[str, float], totals: dict[str, float], elapsed: float
    ) -> None:
        record = self.stage.summarize(reduced)
        names = [g.get("name", str(i)) for i, g in enumerate(self.engine.optimizer.param_groups)]
        for name, lr in zip(names, self.scheduler.get_last_lr(), strict=False):
            record[f"lr_{name}"] = lr
        grad_norm = self.engine.get_global_grad_norm()
        record["grad_norm"] = float(grad_norm) if grad_norm is not None else 0.0
        record["tokens_per_s"] = reduced["tokens"] / elapsed
        record["samples_per_s"] = reduced["samples"] / elapsed
        record["samples"] = int(reduced["samples"])
        record.update({k: int(v) for k, v in totals.items() if k.startswith("dropped_")})
        self.metrics.write(step, record)

    def handoff(self) -> None:
        """Stage 1 leaves the projector; later stages an exported model (`<output>/handoff`)."""
        target = self.out / "handoff"
        module = self.engine.module
        if self.cfg.stage == "align":
            params = list(module.projector.parameters())
            with deepspeed.zero.GatheredParameters(
                params, enabled=self.engine.zero_optimization_stage() == 3
            ):
                if self.rank == 0:
                    lm_dim = module.lm.config.get_text_config().hidden_size
                    state = {k: v.detach().clone() for k, v in module.projector.state_dict().items()}
                    save_projector(
                        state, self.cfg.model.projector.type, module.vision.hidden_size, lm_dim, target
                    )
        elif self.rank == 0:
            export_checkpoint(self.out, target)
        dist.barrier()
        if self.rank == 0:
            log.info("hand-off artifact written to %s", target)
