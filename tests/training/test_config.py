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
        # out-of-range numbers: caught here, not as a rank's traceback or a run that trains the wrong way
        ("train.lr=-1e-3", "train.lr: must be >= 0, got -0.001"),
        ("checkpoint.every=0", "checkpoint.every: must be >= 1, got 0"),
        ("logging.every=0", "logging.every: must be >= 1, got 0"),
        ("data.num_workers=-1", "data.num_workers: must be >= 0, got -1"),
        ("model.max_length=0", "model.max_length: must be >= 1, got 0"),
        ("train.warmup_ratio=1.5", "train.warmup_ratio: must be <= 1, got 1.5"),
        ("dpo.beta=0", "dpo.beta: must be > 0, got 0.0"),
        ("train.epochs=0", "train.epochs: must be > 0, got 0.0"),
        ("train.lora={r: 0}", "train.lora.r: must be >= 1, got 0"),
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


@pytest.mark.parametrize("ranks", ["-1", "0", "two"])
def test_num_gpus_must_be_a_positive_count(ranks, capsys):
    """`--num-gpus -1` started no rank at all and exited 0 as if the run had finished."""
    from training.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["launch", str(CONFIGS / "tiny_align.yaml"), "--num-gpus", ranks])
    assert exit_.value.code == 2
    assert f"--num-gpus: must be an integer >= 1, got '{ranks}'" in capsys.readouterr().err


def test_an_override_split_by_the_shell_is_named(capsys):
    """An unquoted `train.lora={r: 4}` reached argparse as two words and every override was reported as an
    unrecognized argument."""
    from training.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(
            [
                "launch",
                str(CONFIGS / "tiny_align.yaml"),
                "--num-gpus",
                "1",
                "output_dir=x",
                "train.lora={r:",
                "4}",
            ]
        )
    assert exit_.value.code == 2
    assert "'4}' is not a key.sub=value override (quote a value that holds spaces" in capsys.readouterr().err


def test_a_zero_part_lr_is_kept_not_replaced_by_lr(workdir):
    """`train.projector_lr: 0` (a frozen projector) trained the projector at `lr`: 0 was read as unset."""
    from training.model.build import build_vlm

    args = [f"model.lm.name={workdir / 'toy' / 'lm'}", f"model.vision.name={workdir / 'toy' / 'open_clip'}"]
    args += [
        "data.sources=[{path: d}]",
        "train.projector_lr=0",
        "train.vision_lr=0",
        "train.train_vision=true",
    ]
    for stage in ("align", "instruct"):
        cfg = load_config(CONFIGS / f"tiny_{stage}.yaml", [*args, "model.projector.checkpoint=null"])
        model, _ = build_vlm(cfg.model)
        lrs = STAGES[stage](cfg, pad_id=0).configure(model)
        assert lrs["projector"] == 0.0 and lrs.get("vision", 0.0) == 0.0, (stage, lrs)
    assert (
        load_config(CONFIGS / "tiny_align.yaml", ["data.sources=[{path: d}]"]).train.lr_of("vision") == 1e-3
    )
