"""The per-rank training loop (what `train launch` runs on every rank)."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import torch
import torch.distributed as dist

from training.checkpoint import latest_tag, load_checkpoint, save_checkpoint
from training.config import Config
from training.data.prompting import DROP_REASONS, PromptEncoder
from training.data.stream import BatchStream, StreamSpec, make_loader, open_sources
from training.distributed import init_process_group
from training.engine import build_engine, deepspeed_config, describe_trainable, param_groups
from training.export import save_run_config
from training.metrics import MetricsWriter
from training.model.build import build_vlm
from training.progress import Progress, total_steps, write_summary
from training.stages import stage_class
from training.stages.base import Stage

log = logging.getLogger("training")

# fault injection for the resume tests: rank 0 SIGKILLs itself right after finishing this step
KILL_ENV = "MMCURATE_TRAIN_KILL_AFTER_STEP"
COMMON_KEYS = ("samples", "tokens", *(f"dropped_{r}" for r in DROP_REASONS))


class TrainingError(RuntimeError):
    """The data gave nothing to train on; every rank raises it alike (from all-reduced counts)."""


def local_elements(module: torch.nn.Module) -> tuple[int, int]:
    """Parameter elements this rank holds (its ZeRO-3 shards) and the module's whole size."""
    params = list(module.parameters())
    local = sum(p.ds_tensor.numel() if hasattr(p, "ds_tensor") else p.numel() for p in params)
    return local, sum(getattr(p, "ds_numel", p.numel()) for p in params)


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
        self.stage_cls = stage_class(cfg.stage)
        if self.rank == 0:
            save_run_config(cfg, self.out)
        t = cfg.train
        self.items_per_step = t.micro_batch_size * t.grad_accum * self.world
        self.rows = sum(s.rows for s in open_sources(self.spec(cfg.data.sources, cfg.seed, ())))
        self.total_steps = total_steps(t.max_steps, t.epochs, self.rows, self.items_per_step)
        torch.manual_seed(cfg.seed)  # identical initialisation on every rank
        model, self.tokenizer = build_vlm(cfg.model, cfg.seed, ds_config=deepspeed_config(cfg))
        self.footprint = dict(
            zip(("lm_local_elements", "lm_elements"), local_elements(model.lm), strict=True)
        )
        self.stage: Stage = self.stage_cls(cfg, self.tokenizer.pad_token_id)
        lrs = self.stage.configure(model)
        if self.rank == 0:
            log.info(
                "stage %s, world size %d, %d steps (%d rows, %d items per step)\n%s",
                cfg.stage,
                self.world,
                self.total_steps,
                self.rows,
                self.items_per_step,
                describe_trainable(model),
            )
        if t.gradient_checkpointing:
            model.lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            if t.train_vision:
                model.vision.set_grad_checkpointing(True)
        groups = param_groups(model, lrs, t.weight_decay)
        self.engine, self.scheduler = build_engine(model, groups, cfg, self.total_steps)
        self.stage.after_engine(self.engine)
        self.footprint.update(self.stage.footprint())
        encoder = PromptEncoder(self.tokenizer, model.vision.num_patches, cfg.model.max_length)
        self.builder = self.stage.sample_builder(encoder, model.vision.preprocess)
        self.keys = COMMON_KEYS + self.stage.stat_keys
        self.metrics: MetricsWriter | None = None

    def spec(self, sources, seed: int, extra_columns: tuple[str, ...] | None = None) -> StreamSpec:
        c = self.cfg
        return StreamSpec(
            sources,
            self.stage_cls.schema,
            seed,
            c.data.shuffle,
            self.rank,
            self.world,
            c.train.micro_batch_size,
            self.stage.extra_columns() if extra_columns is None else extra_columns,
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
            stats["tokens"] = stats.get("tokens", 0.0) + float(batch["tokens"])
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

    def resume_state(self, resume: bool) -> tuple[int, int, dict[str, float]]:
        """(step, next batch, running totals) to start from: the latest complete checkpoint's, or zeros."""
        fresh = (0, 0, dict.fromkeys(self.keys, 0.0))
        if not resume:
            return fresh
        tag = latest_tag(self.ckpt_root)
        if tag is None:
            log.warning("--resume: no complete checkpoint under %s; starting from scratch", self.ckpt_root)
            return fresh
        state = load_checkpoint(self.engine, self.ckpt_root, tag)
        if state["world"] != self.world:
            raise RuntimeError(f"checkpoint {tag} was written by {state['world']} ranks, now {self.world}")
        log.info("resumed from %s: step %d, next batch %d", tag, state["step"], state["next_batch"])
        return state["step"], state["next_batch"], state["totals"]

    def run(self, resume: bool) -> None:
        c = self.cfg
        step, next_batch, totals = self.resume_state(resume)
        # steps logged after the checkpoint by an interrupted run are dropped, then logged again as replayed
        self.metrics = MetricsWriter(self.out, self.rank == 0, c.logging.tensorboard, after_step=step)
        progress = Progress(step, self.total_steps, self.rows, self.items_per_step, totals["tokens"])
        # a finite stream, so loader workers end with the run instead of at interpreter shutdown
        stop = next_batch + (self.total_steps - step) * c.train.grad_accum
        stream = BatchStream(
            self.spec(c.data.sources, c.seed), self.builder, self.stage.collate(), next_batch, stop
        )
        batches = iter(make_loader(stream, c.data.num_workers))
        empty_steps = 0
        record: dict = {}
        self.engine.train()
        while step < self.total_steps:
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
                raise TrainingError(
                    f"no usable sample in the last {empty_steps} steps; see the dropped_* counts: {totals}"
                )
            if step % c.logging.every == 0 or step == self.total_steps:
                record = self.log_step(step, reduced, totals, elapsed, progress)
            if c.data.eval.every and c.data.eval.sources and step % c.data.eval.every == 0:
                self.evaluate(step)
            if step % c.checkpoint.every == 0 or step == self.total_steps:
                rank_state = {"step": step, "next_batch": next_batch, "world": self.world, "totals": totals}
                save_checkpoint(self.engine, self.ckpt_root, step, rank_state, c.checkpoint.keep)
            if os.environ.get(KILL_ENV) == str(step) and self.rank == 0:
                os.kill(os.getpid(), signal.SIGKILL)
        for _ in batches:  # exhausts the loader so its workers exit now, not at interpreter shutdown
            pass
        if not totals["samples"]:  # no hand-off from a model that never saw a sample
            drops = {k: int(v) for k, v in totals.items() if k.startswith("dropped_") and v}
            raise TrainingError(f"the run trained on no sample in {step} steps; dropped: {drops}")
        target = self.out / "handoff"
        self.stage.handoff(self.engine, self.out, target, self.rank)
        dist.barrier()
        self.metrics.close()
        if self.rank == 0:
            self.summarize_run(step, totals, record, progress, target)
        dist.destroy_process_group()

    def log_step(
        self,
        step: int,
        reduced: dict[str, float],
        totals: dict[str, float],
        elapsed: float,
        progress: Progress,
    ) -> dict:
        record = self.stage.summarize(reduced)
        names = [g.get("name", str(i)) for i, g in enumerate(self.engine.optimizer.param_groups)]
        for name, lr in zip(names, self.scheduler.get_last_lr(), strict=False):
            record[f"lr_{name}"] = lr
        grad_norm = self.engine.get_global_grad_norm()
        record["grad_norm"] = float(grad_norm) if grad_norm is not None else 0.0
        if self.engine.fp16_enabled():
            record["loss_scale"] = float(self.engine.optimizer.loss_scale)
        record["tokens_per_s"] = reduced["tokens"] / elapsed
        record["samples_per_s"] = reduced["samples"] / elapsed
        record["samples"] = int(reduced["samples"])
        record["epoch"] = progress.epoch(step)
        record.update({k: int(v) for k, v in totals.items() if k.startswith("dropped_")})
        self.metrics.write(step, record, headline=progress.line(step))
        return record

    def summarize_run(
        self, step: int, totals: dict[str, float], record: dict, progress: Progress, target: Path
    ) -> None:
        seconds = progress.elapsed()
        summary = {
            "stage": self.cfg.stage,
            "steps": step,  # the run's, from its start
            "steps_run": step - progress.start_step,  # this process's, in `seconds` (fewer after --resume)
            "epochs": progress.epoch(step),
            "seconds": seconds,
            "samples": int(totals["samples"]),
            "tokens": int(totals["tokens"]),
            "tokens_per_s": progress.tokens_per_s(step, totals["tokens"]),
            "dropped": {
                k.removeprefix("dropped_"): int(v) for k, v in totals.items() if k.startswith("dropped_")
            },
            "final": self.stage.summarize(totals),
            "last_logged": record,
            "handoff": str(target),
            "world": self.world,
            "parameters_on_rank0": self.footprint,
        }
        log.info("%s", write_summary(self.out, summary))
