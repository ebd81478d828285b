"""Guarding finished work and reading runs: a non-empty output_dir needs --resume or --overwrite, paths resolve
against the config file, replayed steps are logged once, and the run length follows epochs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from curation.io.shards import write_table_shards
from training.config import load_config
from training.metrics import MetricsWriter, read_metrics
from training.progress import total_steps

from .conftest import CONFIGS, conversation_table, run_train


def test_rerun_into_a_finished_run_is_refused_before_launch(tmp_path):
    run = tmp_path / "runs" / "done"
    (run / "checkpoints" / "step-00000012").mkdir(parents=True)
    (run / "checkpoints" / "latest").write_text("step-00000012")
    (run / "metrics.jsonl").write_text('{"step": 12, "split": "train"}\n')
    data = tmp_path / "data"
    write_table_shards(conversation_table(2), data)
    args = ["launch", str(CONFIGS / "tiny_instruct.yaml"), "--num-gpus", "2", f"output_dir={run}"]
    args += [f"data.sources=[{{path: {data}}}]", "data.eval.sources=[]"]
    proc = run_train(tmp_path, *args, timeout=180)
    assert proc.returncode == 2
    assert "is not empty (checkpoint step-00000012): pass --resume" in proc.stderr
    assert (run / "checkpoints" / "step-00000012").is_dir() and (run / "metrics.jsonl").read_text()
    proc = run_train(tmp_path, *args, "--resume", "--overwrite", timeout=180)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr


def test_overwrite_removes_only_the_runs_own_files(tmp_path):
    from training.preflight import check_output_dir, replace_run

    run = tmp_path / "run"
    (run / "checkpoints" / "step-00000003").mkdir(parents=True)
    (run / "tensorboard").mkdir()
    (run / "metrics.jsonl").write_text("{}\n")
    (run / "notes.txt").write_text("mine")
    cfg = load_config(CONFIGS / "tiny_align.yaml", [f"output_dir={run}"])
    assert check_output_dir(cfg, resume=False, overwrite=True)
    replace_run(cfg)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_only_a_run_that_failed_before_its_first_checkpoint_is_replaced_without_a_flag(tmp_path):
    """What a failed run leaves before any checkpoint (config, metrics, TensorBoard, an empty checkpoints/)
    needs no --overwrite; a checkpoint, hand-off, summary, anybody else's file or a launch still running there
    keeps the folder refused."""
    from training.config import ConfigError
    from training.output_lock import hold
    from training.preflight import check_output_dir, replace_run

    run = tmp_path / "run"
    cfg = load_config(CONFIGS / "tiny_align.yaml", [f"output_dir={run}"])

    def leftovers() -> None:
        (run / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run / "tensorboard").mkdir(exist_ok=True)
        (run / "config.yaml").write_text("stage: align\n")
        (run / "metrics.jsonl").write_text('{"step": 1, "split": "train"}\n')

    for extra in ("checkpoints/step-00000003", "handoff", "summary.json", "notes.txt"):
        leftovers()
        (run / extra).mkdir()
        with pytest.raises(ConfigError, match="is not empty"):
            check_output_dir(cfg, resume=False, overwrite=False)
        (run / extra).rmdir()
    leftovers()
    lock = hold(run)  # the failed-looking run is still running
    with pytest.raises(ConfigError, match="is not empty"):
        check_output_dir(cfg, resume=False, overwrite=False)
    with pytest.raises(ConfigError, match="another train launch is running there"):
        hold(run)
    os.close(lock)
    assert check_output_dir(cfg, resume=False, overwrite=False)
    replace_run(cfg)
    assert not any(run.iterdir())


def test_the_replaced_runs_own_config_is_not_launched(tmp_path, capsys):
    """Relaunching a failed run's recorded config.yaml (or any config at that place) removed it with the run's
    files before the ranks read it."""
    from training.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text((CONFIGS / "tiny_align.yaml").read_text())
    args = [f"output_dir={run}", f"data.sources=[{{path: {tmp_path / 'data'}}}]"]
    assert main(["launch", str(run / "config.yaml"), "--num-gpus", "1", *args]) == 2
    assert "is the record of the run this launch replaces: launch a copy of it" in capsys.readouterr().err
    assert (run / "config.yaml").is_file()


def test_resume_with_a_changed_config_is_refused_and_keeps_the_runs_config(tmp_path):
    """`--resume` continues a run with its own config: a change to what it trains is refused before any rank
    starts (the recorded config.yaml, which `train export` reads, is left as it was); a change to how it loads,
    logs or checkpoints is not."""
    from training.export import save_run_config

    data = tmp_path / "data"
    write_table_shards(conversation_table(2), data)
    run = tmp_path / "runs" / "done"
    base = [f"output_dir={run}", f"data.sources=[{{path: {data}}}]", "data.eval.sources=[]"]
    save_run_config(load_config(CONFIGS / "tiny_instruct.yaml", base), run)
    recorded = (run / "config.yaml").read_text()
    args = ["launch", str(CONFIGS / "tiny_instruct.yaml"), "--num-gpus", "2", "--resume", *base]
    proc = run_train(tmp_path, *args, "model.projector.type=linear", "train.lr=0.5", timeout=180)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "--resume: the config differs from the run's" in proc.stderr
    assert "model.projector.type: 'mlp2x_gelu' -> 'linear'; train.lr: 0.0002 -> 0.5" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (run / "config.yaml").read_text() == recorded

    from training.preflight import check_output_dir

    same = load_config(CONFIGS / "tiny_instruct.yaml", [*base, "data.num_workers=3", "logging.every=5"])
    check_output_dir(same, resume=True, overwrite=False)
    moved = tmp_path / "moved"
    run.rename(moved)  # a run folder moved elsewhere resumes there
    check_output_dir(load_config(CONFIGS / "tiny_instruct.yaml", [*base, f"output_dir={moved}"]), True, False)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            ["model.projector.type=mlp3x"],
            "model.projector.type: 'mlp3x' is not one of ['linear', 'mlp2x_gelu']",
        ),
        (
            ["model.projector.type=linear"],
            "projector type 'mlp2x_gelu' does not match model.projector.type 'linear'",
        ),
        (["model.projector.checkpoint=nowhere"], "nowhere: not a projector artifact (no projector.json)"),
        (["model.init_from=handoff"], "is not an exported model (no vlm.json)"),
        ([], "handoff projects into an LM of hidden size 8, but model.lm.name"),  # a hand-off for another LM
        (
            ["train.lora={target_modules: [q_proj, qproj]}"],
            "train.lora.target_modules: ['qproj'] match no module",
        ),
        (["model.projector.checkpoint=null", "deepspeed.precision=fp16"], "fp16 is not supported on cpu"),
        (
            ["model.lm.name=/no/lm"],
            "model.lm.name: '/no/lm' is neither a local model folder nor a loadable",
        ),
        (
            ["model.lm.name=toy/open_clip"],
            "toy/open_clip' is neither a local model folder nor a loadable model",
        ),
        (["model.vision.name=toy/lm"], "toy/lm is not an open_clip model folder (no open_clip_config.json)"),
        (
            ["model.vision.name=ViT-Q-99"],
            "'ViT-Q-99' is neither a local model folder nor an open_clip model name",
        ),
    ],
)
def test_wrong_model_references_fail_before_any_rank_starts(
    workdir, tmp_path, monkeypatch, capsys, overrides, message
):
    """A model name, projector type, hand-off or export that cannot load is a one-line error (exit 2) from
    `train launch`, not a traceback from every rank."""
    from training.cli import main
    from training.model.projector import save_projector

    if "deepspeed.precision=fp16" in overrides:
        from deepspeed.accelerator import get_accelerator

        if get_accelerator().is_fp16_supported():
            pytest.skip("fp16 runs on this machine's accelerator")
    save_projector({}, "mlp2x_gelu", 8, 8, tmp_path / "handoff")
    write_table_shards(conversation_table(2), tmp_path / "data")
    (tmp_path / "toy").symlink_to(workdir / "toy")  # the tiny models, where the config's toy/ names resolve
    monkeypatch.chdir(tmp_path)
    args = ["output_dir=run", "data.sources=[{path: data}]", "data.eval.sources=[]"]
    args += ["model.projector.checkpoint=handoff", *overrides]
    assert main(["launch", str(CONFIGS / "tiny_instruct.yaml"), "--num-gpus", "1", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_an_output_dir_holding_the_runs_input_is_refused_even_with_overwrite(tmp_path):
    """Stage 2 pointed at the stage-1 run as its output_dir with --overwrite deleted the hand-off it was about to
    load (and the stage-1 checkpoints with it)."""
    from training.config import ConfigError
    from training.model.projector import save_projector
    from training.preflight import check_output_dir

    stage1 = tmp_path / "runs" / "align"
    save_projector({}, "mlp2x_gelu", 8, 8, stage1 / "handoff")
    (stage1 / "checkpoints").mkdir()
    args = [f"output_dir={stage1}", f"model.projector.checkpoint={stage1 / 'handoff'}"]
    cfg = load_config(CONFIGS / "tiny_instruct.yaml", args)
    for resume, overwrite in ((False, True), (True, False), (False, False)):
        with pytest.raises(ConfigError, match=r"holds this run's input model.projector.checkpoint \("):
            check_output_dir(cfg, resume=resume, overwrite=overwrite)
    assert (stage1 / "handoff" / "projector.json").is_file() and (stage1 / "checkpoints").is_dir()
    data = tmp_path / "runs" / "align" / "data"
    cfg = load_config(
        CONFIGS / "tiny_instruct.yaml",
        [f"output_dir={tmp_path / 'runs'}", f"data.sources=[{{path: {data}}}]"],
    )
    with pytest.raises(ConfigError, match=r"holds this run's input data.sources\[0\].path"):
        check_output_dir(cfg, resume=False, overwrite=True)


def test_resume_with_another_number_of_ranks_is_refused_before_launch(tmp_path, monkeypatch, capsys):
    """A 2-rank checkpoint resumed on 1 rank died in DeepSpeed's ZeRO-3 loader with a tensor-size traceback."""
    from training.checkpoint import COMPLETE, LATEST
    from training.cli import main

    ckpt = tmp_path / "run" / "checkpoints" / "step-00000003"
    ckpt.mkdir(parents=True)
    for name in ("rank-0.pt", "rank-1.pt", COMPLETE):
        (ckpt / name).write_text("")
    (ckpt.parent / LATEST).write_text(ckpt.name)
    write_table_shards(conversation_table(2), tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    args = ["output_dir=run", "data.sources=[{path: data}]", "data.eval.sources=[]"]
    argv = ["launch", str(CONFIGS / "tiny_instruct.yaml"), "--num-gpus", "1", "--resume", *args]
    assert main([*argv, "model.projector.checkpoint=null"]) == 2
    assert "checkpoint step-00000003 was written by 2 ranks, this launch starts 1" in capsys.readouterr().err


def test_an_output_dir_that_is_a_file_is_refused_before_launch(tmp_path):
    """It failed on every rank with FileExistsError."""
    from training.config import ConfigError
    from training.preflight import check_output_dir

    afile = tmp_path / "afile"
    afile.write_text("mine")
    for out in (afile, afile / "run"):
        cfg = load_config(CONFIGS / "tiny_align.yaml", [f"output_dir={out}"])
        with pytest.raises(ConfigError, match=f"output_dir {out}: {afile} is a file, not a folder"):
            check_output_dir(cfg, resume=False, overwrite=True)
    assert afile.read_text() == "mine"


def test_a_missing_hostfile_is_refused(tmp_path, capsys):
    """DeepSpeed's runner, given a hostfile that does not exist, trained on the local node alone (one rank
    here) after a warning in its log, and `train launch` exited 0."""
    from training.cli import main

    argv = ["launch", str(CONFIGS / "tiny_align.yaml"), "--hostfile", str(tmp_path / "hosts")]
    assert main([*argv, f"output_dir={tmp_path / 'run'}"]) == 2
    assert f"--hostfile {tmp_path / 'hosts'}: no such file" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_resume_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    """`latest` naming a checkpoint that is gone or incomplete made --resume start from step 0 (and overwrite the
    complete checkpoints it had) and export find no checkpoint at all."""
    from training.checkpoint import COMPLETE, LATEST, latest_tag

    root = tmp_path / "checkpoints"
    for step, complete in ((3, True), (6, True), (9, False)):
        (root / f"step-{step:08d}").mkdir(parents=True)
        if complete:
            (root / f"step-{step:08d}" / COMPLETE).write_text(str(step))
    assert latest_tag(root) == "step-00000006"  # no `latest` marker
    (root / LATEST).write_text("step-00000009")
    assert latest_tag(root) == "step-00000006"
    (root / LATEST).write_text("step-00000003")
    assert latest_tag(root) == "step-00000003"  # the marker wins when it names a complete one
    assert latest_tag(tmp_path / "none") is None


def test_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "recipes"
    (folder / "models" / "lm").mkdir(parents=True)
    (folder / "stage.yaml").write_text(
        "stage: instruct\noutput_dir: ../runs/x\n"
        "model: {lm: {name: models/lm}, vision: {name: ViT-L-14-336}, projector: {checkpoint: ../runs/a/handoff}}\n"
        "data: {sources: [{path: data/conv}], eval: {sources: [{path: s3://bucket/eval}]}}\n"
    )
    monkeypatch.chdir(tmp_path)
    cfg = load_config(folder / "stage.yaml", ["data.eval.sources=[{path: here}]"])
    assert cfg.output_dir == str(tmp_path / "runs" / "x")
    assert cfg.model.lm.name == str(folder / "models" / "lm")  # a local folder next to the config
    assert cfg.model.vision.name == "ViT-L-14-336"  # a registry name stays a name
    assert cfg.model.projector.checkpoint == str(tmp_path / "runs" / "a" / "handoff")
    assert cfg.data.sources[0].path == str(folder / "data" / "conv")
    assert cfg.data.eval.sources[0].path == str(tmp_path / "here")  # overrides: the current directory


def test_epochs_set_the_run_length():
    assert total_steps(None, 1.0, rows=100, items_per_step=8) == 13
    assert total_steps(5, 1.0, rows=100, items_per_step=8) == 5  # whichever ends first
    assert total_steps(50, 0.5, rows=100, items_per_step=8) == 7
    with pytest.raises(Exception, match="set max_steps, epochs or both"):
        load_config(CONFIGS / "tiny_align.yaml", ["train.max_steps=null"])


def test_resumed_metrics_hold_each_step_once(tmp_path):
    """An interrupted run logged steps 1-5 but checkpointed at 3: the resumed run logs 4-5 again, once."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    first = MetricsWriter(tmp_path, True, True)
    for step in range(1, 6):
        first.write(step, {"loss": float(step)})
    first.close()
    resumed = MetricsWriter(tmp_path, True, True, after_step=3)
    for step in (4, 5, 6):
        resumed.write(step, {"loss": 10.0 * step})
    resumed.close()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert {s: r["loss"] for s, r in read_metrics(tmp_path).items()} == {
        1: 1,
        2: 2,
        3: 3,
        4: 40,
        5: 50,
        6: 60,
    }
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    scalars = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert scalars == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 50.0), (6, 60.0)]


def test_summary_names_nonzero_drops_only(tmp_path):
    from training.metrics import console_line
    from training.progress import write_summary

    assert console_line({"loss": 0.5, "dropped_bad_image": 0, "dropped_fully_masked": 2}) == (
        "loss=0.5 dropped_fully_masked=2"
    )
    summary = {
        "steps": 6,
        "seconds": 75.0,
        "epochs": 1.5,
        "samples": 24,
        "tokens": 1000,
        "tokens_per_s": 13.3,
        "final": {"loss": 1.25},
        "dropped": {"bad_image": 0, "empty_text": 3},
        "handoff": "runs/x/handoff",
    }
    text = write_summary(tmp_path, summary)
    assert "finished 6 steps in 0:01:15 (1.50 epochs" in text and "{'empty_text': 3}" in text
    assert json.loads(Path(tmp_path / "summary.json").read_text())["steps"] == 6


def test_resumed_throughput_counts_only_this_processes_steps(tmp_path):
    """A run resumed at step 12 of 12 with 1.2M tokens behind it ran no step: no rate. Resumed at 6, its rate is
    over the tokens of steps 7-12 alone."""
    from training.progress import Progress, write_summary

    finished = Progress(12, 12, rows=48, items_per_step=4, start_tokens=1_200_000)
    assert finished.tokens_per_s(12, 1_200_000) is None
    summary = {
        "steps": 12,
        "steps_run": 0,
        "seconds": finished.elapsed(),
        "epochs": 1.0,
        "samples": 48,
        "tokens": 1_200_000,
        "tokens_per_s": finished.tokens_per_s(12, 1_200_000),
        "final": {"loss": 1.25},
        "dropped": {},
        "handoff": "runs/x/handoff",
    }
    text = write_summary(tmp_path, summary)
    assert text.splitlines()[0] == (
        "resumed at step 12: ran 0 steps in 0:00:00 (no step left to run); "
        "the run: 12 steps, 1.00 epochs, 48 samples, 1,200,000 tokens"
    )
    assert "tokens/s" not in text
    assert json.loads((tmp_path / "summary.json").read_text())["tokens_per_s"] is None
    resumed = Progress(6, 12, rows=48, items_per_step=4, start_tokens=600_000)
    resumed.started -= 2.0  # steps 7-12 took two seconds
    assert resumed.tokens_per_s(12, 600_100) == pytest.approx(50.0, rel=0.05)


def test_a_resumed_summary_pairs_this_processes_steps_with_its_time(tmp_path):
    """Resumed at step 6 of 12, the process ran 6 steps in its 2 s: the headline says so, the run's 12 steps
    apart (not "finished 12 steps in 0:00:02")."""
    from training.progress import write_summary

    summary = {
        "steps": 12,
        "steps_run": 6,
        "seconds": 2.4,
        "epochs": 1.0,
        "samples": 48,
        "tokens": 1_200_000,
        "tokens_per_s": 50.0,
        "final": {"loss": 1.25},
        "dropped": {},
        "handoff": "runs/x/handoff",
    }
    assert write_summary(tmp_path, summary).splitlines()[0] == (
        "resumed at step 6: ran 6 steps in 0:00:02 (50.0 tokens/s); "
        "the run: 12 steps, 1.00 epochs, 48 samples, 1,200,000 tokens"
    )
    fresh = write_summary(tmp_path, {**summary, "steps_run": 12}).splitlines()[0]
    assert fresh == "finished 12 steps in 0:00:02 (1.00 epochs, 48 samples, 1,200,000 tokens, 50.0 tokens/s)"


def test_precision_choices_reach_deepspeed():
    from training.engine import deepspeed_config

    fp16 = deepspeed_config(load_config(CONFIGS / "tiny_align.yaml", ["deepspeed.precision=fp16"]))
    assert fp16["fp16"]["enabled"] and not fp16["bf16"]["enabled"]
    assert fp16["fp16"]["loss_scale"] == 0 and fp16["fp16"]["initial_scale_power"] == 16  # dynamic scaling
    bf16 = deepspeed_config(load_config(CONFIGS / "tiny_align.yaml", ["deepspeed.precision=bf16"]))
    assert bf16["bf16"]["enabled"] and not bf16["fp16"]["enabled"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.lm.quantization=nf4"], "a quantised base trains only through adapters"),
        (
            ["model.lm.quantization=nf4", "train.lora={r: 4}", "deepspeed.zero_stage=3"],
            "ZeRO-3 does not partition",
        ),
        (["stage=captioning"], "stage: 'captioning' is not one of"),
        (["stage=dpo", "train.packing=true"], "train.packing: stage 'dpo' does not pack samples"),
    ],
)
def test_stage_and_quantisation_settings_are_checked(overrides, message):
    from training.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "tiny_align.yaml", overrides)
