"""Config loading: overrides, and typos/bad values fail with the dotted path and the valid choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import ConfigError, load_config
from training.stages import STAGES

from .conftest import CONFIGS, run_train


def test_shipped_configs_load():
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.stage in STAGES, path


def test_overrides_apply_with_yaml_types():
    cfg = load_config(
        CONFIGS / "tiny_align.yaml",
        [
            "train.max_steps=9",
            "deepspeed.zero_stage=3",
            "train.lr=5e-4",
            "data.sources=[{path: a, weight: 2}]",
        ],
    )
    assert cfg.train.max_steps == 9 and cfg.deepspeed.zero_stage == 3 and cfg.train.lr == 5e-4
    assert cfg.data.sources[0].path == str(Path.cwd() / "a") and cfg.data.sources[0].weight == 2.0


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.max_stepz=3", "train.max_stepz: unknown key (did you mean 'max_steps'?)"),
        ("dpo.loss=hinge", "dpo.loss: 'hinge' is not one of ['sigmoid', 'ipo']"),
        ("train.micro_batch_size=two", "train.micro_batch_size: expected int"),
        ("deepspeed.zero_stage=4", "deepspeed.zero_stage: 4 is not one of [0, 1, 2, 3]"),
        ("data.sources=[]", "data.sources: at least one source is required"),
        ("data.sources=[{path:", "override 'data.sources=[{path:': the value is not valid YAML"),
    ],
)
def test_bad_values_name_their_path(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(CONFIGS / "tiny_align.yaml", [override])
    assert message in str(err.value)


def test_cli_reports_config_typo_without_launching(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIGS / "tiny_align.yaml").read_text().replace("micro_batch_size", "micro_batchsize"))
    proc = run_train(tmp_path, "launch", str(bad), "--num-gpus", "2", timeout=60)
    assert proc.returncode == 2
    assert "train.micro_batchsize: unknown key (did you mean 'micro_batch_size'?)" in proc.stderr
