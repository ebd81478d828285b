"""Stage registry: the `stage:` key of a config picks one."""

from training.stages.align import AlignStage
from training.stages.base import Stage
from training.stages.dpo import DPOStage
from training.stages.instruct import InstructStage
from training.stages.interleaved import InterleavedStage

STAGES: dict[str, type[Stage]] = {
    "align": AlignStage,
    "instruct": InstructStage,
    "dpo": DPOStage,
    "interleaved": InterleavedStage,
}
