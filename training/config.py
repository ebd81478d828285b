"""Training configs: YAML -> validated dataclasses, with `key.sub=value` overrides.

Unknown keys, wrong types and bad choices raise `ConfigError` naming the dotted path and the valid choices.
Relative paths written in the YAML file resolve against the file's directory; relative paths given as
overrides resolve against the current directory. What a stage requires of the config is checked by the stage
(`training.stages`), never here.
"""

from __future__ import annotations

import dataclasses
import difflib
import operator
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

PATH_KEYS = (
    ("output_dir",),
    ("model", "init_from"),
    ("model", "projector", "checkpoint"),
)
MODEL_KEYS = (("model", "vision", "name"), ("model", "lm", "name"))  # a hub/registry name or a local path
AttnImpl = Literal["eager", "sdpa", "flash_attention_2", "flash_attention_3"]


# numeric settings and the bounds they must keep (a value of None is not checked)
BOUNDS: tuple[tuple[str, str, float], ...] = (
    ("model.max_length", ">=", 1),
    ("train.max_steps", ">=", 1),
    ("train.epochs", ">", 0),
    ("train.micro_batch_size", ">=", 1),
    ("train.grad_accum", ">=", 1),
    ("train.lr", ">=", 0),
    ("train.projector_lr", ">=", 0),
    ("train.vision_lr", ">=", 0),
    ("train.weight_decay", ">=", 0),
    ("train.warmup_ratio", ">=", 0),
    ("train.warmup_ratio", "<=", 1),
    ("train.min_lr_ratio", ">=", 0),
    ("train.min_lr_ratio", "<=", 1),
    ("train.grad_clip", ">=", 0),
    ("train.lora.r", ">=", 1),
    ("train.lora.dropout", ">=", 0),
    ("train.lora.dropout", "<", 1),
    ("dpo.beta", ">", 0),
    ("deepspeed.initial_scale_power", ">=", 0),
    ("data.num_workers", ">=", 0),
    ("data.max_empty_batches", ">=", 1),
    ("data.eval.every", ">=", 0),
    ("data.eval.batches", ">=", 1),
    ("interleaved.max_images", ">=", 0),
    ("checkpoint.every", ">=", 1),
    ("checkpoint.keep", ">=", 0),
    ("logging.every", ">=", 1),
)
BOUND_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}


class ConfigError(ValueError):
    """A config value or key is invalid; the message names its dotted path."""


@dataclass
class VisionConfig:
    """Vision encoder: open_clip (model name + pretrained tag/file, or a local dir) or an HF CLIP/SigLIP model."""

    source: Literal["open_clip", "hf"] = "open_clip"
    name: str = "ViT-L-14-336"
    pretrained: str | None = "openai"
    layer: int = -2  # which transformer block's patch tokens feed the projector
    random_init: bool = False  # build the architecture only (benchmarks); never downloads weights


@dataclass
class ProjectorConfig:
    type: str = "mlp2x_gelu"
    checkpoint: str | None = None  # the stage-1 hand-off artifact (directory)


@dataclass
class LMConfig:
    name: str = "Qwen/Qwen2.5-0.5B-Instruct"  # hub name or local directory
    random_init: bool = False
    quantization: Literal["none", "nf4"] = "none"  # nf4: QLoRA's 4-bit base (with train.lora, ZeRO <= 2)


@dataclass
class ModelConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    init_from: str | None = None  # an exported model directory (e.g. stage 2's) to start from
    max_length: int = 2048
    attn_implementation: AttnImpl | None = None  # None: transformers' default (sdpa where available)


@dataclass
class LoraConfig:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


@dataclass
class TrainConfig:
    max_steps: int | None = 1000  # with `epochs` as well, whichever ends first
    epochs: float | None = None  # passes over the data (all sources' rows together)
    micro_batch_size: int = 4
    grad_accum: int = 1
    lr: float = 2e-5
    projector_lr: float | None = None  # defaults to lr
    vision_lr: float | None = None  # defaults to lr
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    gradient_checkpointing: bool = False
    packing: bool = False  # pack several samples per row (SFT stages), attention kept within each sample
    train_lm: bool = True  # ignored by align, which trains only the projector
    train_vision: bool = False
    lora: LoraConfig | None = None

    def lr_of(self, part: str) -> float:
        """The learning rate of `part` (projector or vision): its own when set (0 included), else `lr`."""
        own = getattr(self, f"{part}_lr")
        return self.lr if own is None else own


@dataclass
class DPOConfig:
    beta: float = 0.1
    loss: Literal["sigmoid", "ipo"] = "sigmoid"
    reference: Literal["copy", "lora_disabled", "precomputed"] = "copy"


@dataclass
class DeepSpeedConfig:
    zero_stage: int = 2
    offload_optimizer: bool = False
    offload_param: bool = False
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    initial_scale_power: int = 16  # fp16 only: dynamic loss scaling starts at 2**this


@dataclass
class SourceConfig:
    path: str = ""
    weight: float = 1.0


@dataclass
class EvalConfig:
    sources: list[SourceConfig] = field(default_factory=list)
    every: int = 0  # 0 = never
    batches: int = 4


@dataclass
class DataConfig:
    sources: list[SourceConfig] = field(default_factory=list)
    num_workers: int = 1
    shuffle: bool = True
    max_empty_batches: int = 50  # this many consecutive batches without a usable sample is an error
    eval: EvalConfig = field(default_factory=EvalConfig)


@dataclass
class InterleavedConfig:
    max_images: int = 4  # images kept per interleaved sample; the rest are cut and counted


@dataclass
class CheckpointConfig:
    every: int = 500
    keep: int = 2


@dataclass
class LoggingConfig:
    every: int = 1
    tensorboard: bool = True


@dataclass
class Config:
    """A whole training run (one stage)."""

    stage: str = "align"  # a name registered in training.stages
    output_dir: str = "runs/default"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    dpo: DPOConfig = field(default_factory=DPOConfig)
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    data: DataConfig = field(default_factory=DataConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    interleaved: InterleavedConfig = field(default_factory=InterleavedConfig)


def _convert(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, path)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{path}: {value!r} is not one of {list(choices)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        (inner,) = typing.get_args(tp)
        return [_convert(inner, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, path)
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    raise ConfigError(f"{path}: expected {tp.__name__}, got {value!r}")


def _build(cls: type, data: Any, path: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or '<root>'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key{hint}; valid keys: {names}")
        kwargs[key] = _convert(hints[key], value, where)
    return cls(**kwargs)


def apply_override(data: dict, override: str) -> None:
    """Apply one `a.b.c=value` override (value parsed as YAML) to the raw config mapping."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} is not of the form key.sub=value")
    key, raw = override.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {part!r} is not a mapping")
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"override {override!r}: the value is not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from None


def _validate(cfg: Config) -> None:
    from training.stages import stage_class  # the stages import this module

    stage_class(cfg.stage).validate(cfg)
    if not cfg.data.sources:
        raise ConfigError("data.sources: at least one source is required")
    for i, src in enumerate(cfg.data.sources + cfg.data.eval.sources):
        if not src.path:
            raise ConfigError(f"data.sources[{i}].path: required")
        if src.weight <= 0:
            raise ConfigError(f"data.sources[{i}].weight: must be > 0")
    if cfg.deepspeed.zero_stage not in (0, 1, 2, 3):
        raise ConfigError(f"deepspeed.zero_stage: {cfg.deepspeed.zero_stage} is not one of [0, 1, 2, 3]")
    for key, op, bound in BOUNDS:
        value: Any = cfg
        for part in key.split("."):
            value = getattr(value, part, None)
        if value is not None and not BOUND_OPS[op](value, bound):
            raise ConfigError(f"{key}: must be {op} {bound}, got {value!r}")
    if cfg.train.max_steps is None and cfg.train.epochs is None:
        raise ConfigError("train.max_steps: set max_steps, epochs or both")
    if cfg.model.lm.quantization != "none" and cfg.train.lora is None:
        raise ConfigError(
            "model.lm.quantization: a quantised base trains only through adapters; set train.lora"
        )
    if cfg.model.lm.quantization != "none" and cfg.deepspeed.zero_stage == 3:
        raise ConfigError(
            "model.lm.quantization: ZeRO-3 does not partition a 4-bit base; use zero_stage <= 2"
        )


def _resolve(value: Any, base: Path, must_exist: bool) -> Any:
    """`value` made absolute against `base` if it is a relative local path; URIs stay, and with `must_exist`
    so does a name that is no path under `base` (a hub or registry name such as ViT-L-14-336)."""
    if not isinstance(value, str) or not value or "://" in value:
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    candidate = base / path
    if must_exist and not candidate.exists() and not value.startswith("."):
        return value
    return str(candidate.resolve())


def resolve_paths(data: dict, base: Path) -> None:
    """Make the relative paths of a raw config mapping absolute against `base`, in place."""

    def node(keys: tuple[str, ...]) -> tuple[dict | None, str]:
        parent: Any = data
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        return (parent if isinstance(parent, dict) else None), keys[-1]

    for keys, must_exist in [(k, False) for k in PATH_KEYS] + [(k, True) for k in MODEL_KEYS]:
        parent, key = node(keys)
        if parent is not None and key in parent:
            parent[key] = _resolve(parent[key], base, must_exist)
    data_cfg = data.get("data")
    if isinstance(data_cfg, dict):
        eval_cfg = data_cfg.get("eval")
        lists = [data_cfg.get("sources"), eval_cfg.get("sources") if isinstance(eval_cfg, dict) else None]
        for sources in lists:
            for src in sources if isinstance(sources, list) else []:
                if isinstance(src, dict) and "path" in src:
                    src["path"] = _resolve(src["path"], base, False)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply overrides and validate it; every local path comes back absolute."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    resolve_paths(data, Path(path).resolve().parent)
    for override in overrides:
        apply_override(data, override)
    resolve_paths(data, Path.cwd())  # what the overrides left relative
    cfg = _build(Config, data, "")
    _validate(cfg)
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)
