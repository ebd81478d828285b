"""Training stages: the `stage:` key of a config names one registered here.

A stage (see `base.Stage`) owns its data contract, trainable parameters, loss, config checks and hand-off;
a new stage is a `Stage` subclass added to `STAGES`.
"""

from training.config import ConfigError
from training.data.prompting import PromptEncoder
from training.stages.align import AlignStage
from training.stages.base import SampleBuilder, Stage
from training.stages.dpo import DPOStage
from training.stages.instruct import InstructStage
from training.stages.interleaved import InterleavedStage

STAGES: dict[str, type[Stage]] = {
    "align": AlignStage,
    "instruct": InstructStage,
    "dpo": DPOStage,
    "interleaved": InterleavedStage,
}


def stage_class(name: str) -> type[Stage]:
    """The registered stage called `name`; ConfigError naming the choices otherwise."""
    if name not in STAGES:
        raise ConfigError(f"stage: {name!r} is not one of {sorted(STAGES)}")
    return STAGES[name]


def sample_builder(schema: str, encoder: PromptEncoder, transform) -> SampleBuilder:
    """What the trainer turns a row of `schema` into (or the DropSample it raises): the builder of the stage
    that reads that schema. Curation uses it to drop exactly what training would."""
    for stage in STAGES.values():
        if stage.schema == schema:
            return stage.samples(encoder, transform)
    raise ValueError(f"no training stage reads schema {schema!r}")
