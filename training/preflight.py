"""What `train launch` checks before any rank starts: the output folder (finished work is never replaced by
accident, `--resume` continues only the same run), the data sources and the model's references.

Everything a user can get wrong and that is knowable up front fails here in one line (ConfigError or
FileNotFoundError / ValueError naming the input), not as a traceback from every rank.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from curation.io.output_paths import remove_entries
from training.config import Config, ConfigError
from training.data.shards import ShardSource
from training.output_lock import in_use

CONFIG_NAME = "config.yaml"  # the run's recorded config (training.export writes it)
RUN_ENTRIES = (CONFIG_NAME, "metrics.jsonl", "summary.json", "tensorboard", "checkpoints", "handoff")
# what a run that failed before its first checkpoint leaves (no summary, hand-off or checkpoint: nothing to keep)
FAILED_RUN_ENTRIES = (CONFIG_NAME, "metrics.jsonl", "tensorboard", "checkpoints")
# what `--resume` may change: where the run lives and how it loads, logs and checkpoints, never what it trains
RESUME_MAY_CHANGE = ("output_dir", "data.num_workers", "logging.", "checkpoint.")


def check_model_name(key: str, name: str, source: str) -> object | None:
    """`name` is a model folder or a name its library resolves (transformers: a folder or hub model whose config
    it can read, which is returned; open_clip: a folder with `open_clip_config.json`, a registry or an `hf-hub:`
    name), so that a mistyped path fails here, not on every rank."""
    if source == "open_clip":
        import open_clip

        if Path(name).is_dir() and not (Path(name) / "open_clip_config.json").is_file():
            raise ConfigError(f"{key}: {name} is not an open_clip model folder (no open_clip_config.json)")
        if Path(name).is_dir() or name.startswith("hf-hub:") or name in open_clip.list_models():
            return None
        raise ConfigError(f"{key}: {name!r} is neither a local model folder nor an open_clip model name")
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0]
        raise ConfigError(
            f"{key}: {name!r} is neither a local model folder nor a loadable model ({reason})"
        ) from None


def check_lora_targets(lm_config: object, targets: list[str]) -> None:
    """Every `train.lora.target_modules` entry names modules of the LM (matched as PEFT does: the module's name
    or a dotted suffix of it); the LM is built on the meta device, so nothing is allocated."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        names = [n for n, _ in AutoModelForCausalLM.from_config(lm_config).named_modules()]
    missing = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]
    if missing:
        leaves = sorted({n.rsplit(".", 1)[-1] for n in names if n and not n.rsplit(".", 1)[-1].isdigit()})
        raise ConfigError(
            f"train.lora.target_modules: {missing} match no module of the LM; its modules: {', '.join(leaves)}"
        )


def check_model_references(cfg: Config) -> None:
    """The export `model.init_from` names, the projector type and the hand-off artifact it loads, checked here
    so that a wrong one fails before any rank starts."""
    from training.model.build import resolve_model_config
    from training.model.projector import PROJECTORS, check_projector_artifact

    resolved, _ = resolve_model_config(cfg.model)
    lm_config = check_model_name("model.lm.name", resolved.lm.name, "hf")
    check_model_name("model.vision.name", resolved.vision.name, resolved.vision.source)
    kind = resolved.projector.type
    if kind not in PROJECTORS:
        raise ConfigError(f"model.projector.type: {kind!r} is not one of {sorted(PROJECTORS)}")
    if cfg.train.lora is not None:
        check_lora_targets(lm_config, cfg.train.lora.target_modules)
    if resolved.projector.checkpoint:
        meta = check_projector_artifact(resolved.projector.checkpoint, kind)
        lm_dim = lm_config.get_text_config().hidden_size
        if meta.get("lm_dim") not in (None, lm_dim):
            raise ConfigError(
                f"model.projector.checkpoint: {resolved.projector.checkpoint} projects into an LM of hidden size "
                f"{meta['lm_dim']}, but model.lm.name ({resolved.lm.name}) has {lm_dim}"
            )


def check_precision(cfg: Config) -> None:
    """The accelerator the ranks will run on supports `deepspeed.precision` (fp16 on CPU does not)."""
    from deepspeed.accelerator import get_accelerator

    from training.engine import precision

    kind, accelerator = precision(cfg), get_accelerator()
    supported = {"fp16": accelerator.is_fp16_supported, "bf16": accelerator.is_bf16_supported}
    if kind in supported and not supported[kind]():
        raise ConfigError(
            f"deepspeed.precision: {kind} is not supported on {accelerator.device_name()}; use fp32 or auto"
        )


def preflight(cfg: Config) -> None:
    """Open every data source (manifest, shard files, schema) and check the model's references, so bad input
    fails here, not on N ranks."""
    from training.stages import stage_class  # torch: only once the config itself is valid

    stage = stage_class(cfg.stage)(cfg, pad_id=0)
    for source in cfg.data.sources + cfg.data.eval.sources:
        ShardSource(source.path, stage.schema, cfg.seed, cfg.data.shuffle, stage.extra_columns())
    check_model_references(cfg)
    check_precision(cfg)


def _flat(data: object, prefix: str = "") -> dict[str, object]:
    if not isinstance(data, dict):
        return {prefix: data}
    return {k: v for key, value in data.items() for k, v in _flat(value, f"{prefix}{key}.").items()}


def config_changes(cfg: Config, out: Path) -> list[str]:
    """`key: recorded -> now` for each setting of `cfg` that differs from the run recorded in `out`
    (nothing when `out` holds no recorded config), leaving out those `--resume` may change."""
    from training.export import run_config_data  # torch: only once the config itself is valid

    recorded = out / CONFIG_NAME
    if not recorded.is_file():
        return []
    old = {k.rstrip("."): v for k, v in _flat(yaml.safe_load(recorded.read_text()) or {}).items()}
    now = yaml.safe_load(yaml.safe_dump(run_config_data(cfg)))
    new = {k.rstrip("."): v for k, v in _flat(now).items()}
    keys = sorted(k for k in old.keys() | new.keys() if not k.startswith(RESUME_MAY_CHANGE))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def inputs_in_output(cfg: Config) -> list[str]:
    """`key (path)` of each local input of the run (data, models, hand-off, export) inside its `output_dir`."""
    out = Path(cfg.output_dir).resolve()
    m = cfg.model
    inputs = {
        "model.init_from": m.init_from,
        "model.projector.checkpoint": m.projector.checkpoint,
        "model.lm.name": m.lm.name,
        "model.vision.name": m.vision.name,
    }
    inputs |= {f"data.sources[{i}].path": s.path for i, s in enumerate(cfg.data.sources)}
    inputs |= {f"data.eval.sources[{i}].path": s.path for i, s in enumerate(cfg.data.eval.sources)}
    return [
        f"{key} ({path})"
        for key, path in inputs.items()
        if path and Path(path).is_absolute() and Path(path).resolve().is_relative_to(out)
    ]


def failed_before_checkpoint(out: Path) -> bool:
    """`out` holds only what a run that failed before its first checkpoint wrote: its config and maybe metrics,
    TensorBoard events and an empty `checkpoints/` (no checkpoint, hand-off or summary, nobody else's file), and
    no launch is running there."""
    names = {p.name for p in out.iterdir()}
    checkpoints = out / "checkpoints"
    no_checkpoint = not checkpoints.exists() or (checkpoints.is_dir() and not any(checkpoints.iterdir()))
    return CONFIG_NAME in names and names <= set(FAILED_RUN_ENTRIES) and no_checkpoint and not in_use(out)


def check_output_dir(cfg: Config, resume: bool, overwrite: bool) -> bool:
    """A run never lands on top of another by accident: a non-empty `output_dir` needs `--resume` (continue
    it, with the config it was started with) or `--overwrite`, unless it holds only the files of a run that
    failed before its first checkpoint (replaced without either); an `output_dir` holding one of the run's
    inputs is refused whatever the flags. Returns whether an earlier run's files are to be replaced."""
    out = Path(cfg.output_dir)
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"output_dir {out}: {existing} is a file, not a folder")
    held = inputs_in_output(cfg)
    if held:
        raise ConfigError(
            f"output_dir {out} holds this run's input {', '.join(held)}; choose another output_dir"
        )
    if resume:
        changes = config_changes(cfg, out)
        if changes:
            raise ConfigError(
                f"--resume: the config differs from the run's in {out} ({'; '.join(changes)}); resume it "
                "with its own config, or start a new run with --overwrite or another output_dir"
            )
        return False
    if not out.is_dir() or not any(out.iterdir()):
        return False
    if not overwrite and not failed_before_checkpoint(out):
        latest = out / "checkpoints" / "latest"
        held_tag = f" (checkpoint {latest.read_text().strip()})" if latest.is_file() else ""
        raise ConfigError(
            f"output_dir {out} is not empty{held_tag}: pass --resume to continue that run or --overwrite to "
            "replace it, or choose another output_dir"
        )
    return True


def check_resume_world(cfg: Config, ranks: int) -> None:
    """The checkpoint `--resume` continues from was written by as many ranks as will load it (its optimizer
    state and data positions are per rank)."""
    from training.checkpoint import latest_tag

    root = Path(cfg.output_dir) / "checkpoints"
    tag = latest_tag(root)
    written = len(list((root / tag).glob("rank-*.pt"))) if tag else 0
    if written and written != ranks:
        raise ConfigError(
            f"--resume: checkpoint {tag} was written by {written} ranks, this launch starts {ranks}; "
            f"resume with --num-gpus {written}"
        )


def replace_run(cfg: Config) -> None:
    """Remove the earlier run's files from `output_dir` (config, metrics, TensorBoard, checkpoints, hand-off);
    anything else in the folder is left alone. Only after `check_output_dir` allowed it."""
    remove_entries(Path(cfg.output_dir), RUN_ENTRIES)
