"""Training configs: YAML -> validated dataclasses, with `key.sub=value` overrides.

Unknown keys, wrong types and bad choices raise `ConfigError` naming the dotted path and the valid choices.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

STAGE_SCHEMA = {
    "align": "pair",
    "instruct": "conversation",
    "dpo": "preference",
    "interleaved": "interleaved|pair|conversation",  # any of these contracts, source by source
}
# optional preference columns: reference log-probs precomputed offline, summed over the response tokens
REF_COLUMNS = ("ref_chosen_logp", "ref_rejected_logp")


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


@dataclass
class ModelConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    init_from: str | None = None  # an exported model directory (e.g. stage 2's) to start from
    max_length: int = 2048


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
    max_steps: int = 1000
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
    train_lm: bool = True  # ignored by align, which trains only the projector
    train_vision: bool = False
    lora: LoraConfig | None = None


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
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU


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

    stage: Literal["align", "instruct", "dpo", "interleaved"] = "align"
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

    @property
    def schema(self) -> str:
        return STAGE_SCHEMA[self.stage]

    @property
    def extra_columns(self) -> tuple[str, ...]:
        """Columns the data must have beyond the stage's schema contract."""
        return REF_COLUMNS if self.stage == "dpo" and self.dpo.reference == "precomputed" else ()


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
    node[parts[-1]] = yaml.safe_load(raw)


def _validate(cfg: Config) -> None:
    if cfg.stage == "align" and cfg.model.init_from:
        raise ConfigError("model.init_from: align starts from the pretrained LM and encoder, not an export")
    if not cfg.data.sources:
        raise ConfigError("data.sources: at least one source is required")
    for i, src in enumerate(cfg.data.sources + cfg.data.eval.sources):
        if not src.path:
            raise ConfigError(f"data.sources[{i}].path: required")
        if src.weight <= 0:
            raise ConfigError(f"data.sources[{i}].weight: must be > 0")
    if cfg.deepspeed.zero_stage not in (0, 1, 2, 3):
        raise ConfigError(f"deepspeed.zero_stage: {cfg.deepspeed.zero_stage} is not one of [0, 1, 2, 3]")
    if cfg.interleaved.max_images < 0:
        raise ConfigError("interleaved.max_images: must be >= 0")
    if cfg.dpo.reference == "lora_disabled" and cfg.stage == "dpo" and cfg.train.lora is None:
        raise ConfigError("dpo.reference: 'lora_disabled' needs train.lora")
    for name in ("max_steps", "micro_batch_size", "grad_accum"):
        if getattr(cfg.train, name) < 1:
            raise ConfigError(f"train.{name}: must be >= 1")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply overrides and validate it; relative paths stay as written."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    for override in overrides:
        apply_override(data, override)
    cfg = _build(Config, data, "")
    _validate(cfg)
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)
