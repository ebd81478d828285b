"""End to end through `train launch` with 2 CPU ranks (DeepSpeed, gloo): all three stages under ZeRO-2 and
ZeRO-3, stage-1 weight isolation, DPO learning signal, kill + `--resume` equality, and bad input.

Each stage is one launch shared by the tests that inspect it (session fixtures, chained by hand-offs).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from safetensors.torch import load_file

from training.config import LMConfig, ModelConfig, ProjectorConfig, VisionConfig
from training.metrics import read_metrics
from training.preflight import failed_before_checkpoint
from training.trainer import KILL_ENV

from .conftest import COCO, CONFIGS, LAUNCH_TIMEOUT, assert_ok, launch, run_train, shm_buffers, start_train

pytestmark = pytest.mark.slow


def need_coco() -> None:
    if not COCO.is_dir():
        pytest.skip(
            f"COCO-mini not found at {COCO}: stage 1 trains on it (shared data checkout next to the repo)"
        )


def align_args(workdir, coco_dir, name: str, zero: int) -> list[str]:
    return [f"output_dir=runs/{name}", f"deepspeed.zero_stage={zero}", f"data.sources=[{{path: {coco_dir}}}]"]


def instruct_args(workdir, name: str, zero: int, align: str, sources: str) -> list[str]:
    return [
        f"output_dir=runs/{name}",
        f"deepspeed.zero_stage={zero}",
        f"model.projector.checkpoint=runs/{align}/handoff",
        f"data.sources={sources}",
    ]


def dpo_args(name: str, zero: int, instruct: str, *extra: str) -> list[str]:
    return [
        f"output_dir=runs/{name}",
        f"deepspeed.zero_stage={zero}",
        f"model.init_from=runs/{instruct}/handoff",
        *extra,
    ]


@pytest.fixture(scope="session")
def bad_conv_dir(workdir):
    """A second conversation source full of bad rows (mixed into stage 2 with a weight)."""
    import pyarrow as pa

    from curation.io.shards import write_manifest, write_shard
    from curation.rows import CONVERSATION

    from .conftest import COLORS, png

    out = workdir / "data" / "bad_conversations"
    if not out.exists():
        bad = pa.Table.from_pydict(
            {
                "id": ["tags", "corrupt"],
                "images": [[png(COLORS["red"])], [b"GIF89a-truncated"]],
                "messages": [
                    [
                        {"role": "user", "content": "<image><image> compare"},
                        {"role": "assistant", "content": "same"},
                    ],
                    [{"role": "user", "content": "<image> color?"}, {"role": "assistant", "content": "red"}],
                ],
            },
            schema=CONVERSATION,
        )
        write_manifest(out, [write_shard(bad, out, 0), write_shard(bad.slice(0, 0), out, 1)], CONVERSATION)
    return out


def align_run(workdir, coco_dir, zero: int):
    """Stage 1 on COCO-mini under ZeRO-`zero`, launched once; returns its run folder."""
    need_coco()
    name = f"z{zero}_align"
    assert_ok(launch(workdir, "tiny_align.yaml", *align_args(workdir, coco_dir, name, zero)))
    return workdir / "runs" / name


@pytest.fixture(scope="session")
def z2_align(workdir, coco_dir):
    return align_run(workdir, coco_dir, 2)


@pytest.fixture(scope="session")
def z2_instruct(workdir, z2_align, conv_dir, bad_conv_dir):
    sources = f"[{{path: {conv_dir}, weight: 3}}, {{path: {bad_conv_dir}, weight: 1}}]"
    args = instruct_args(workdir, "z2_instruct", 2, "z2_align", sources)
    ckpt = ("train.gradient_checkpointing=true", "train.train_vision=true", "train.vision_lr=1e-4")
    assert_ok(
        launch(workdir, "tiny_instruct.yaml", *args, "train.micro_batch_size=2", "train.packing=true", *ckpt)
    )
    return workdir / "runs" / "z2_instruct"


@pytest.fixture(scope="session")
def z2_dpo(workdir, z2_instruct, pref_dir):
    args = dpo_args("z2_dpo", 2, "z2_instruct", f"data.sources=[{{path: {pref_dir}}}]")
    assert_ok(launch(workdir, "tiny_dpo.yaml", *args))
    return workdir / "runs" / "z2_dpo"


@pytest.fixture(scope="session")
def z3_align(workdir, coco_dir):
    return align_run(workdir, coco_dir, 3)


@pytest.fixture(scope="session")
def z3_instruct(workdir, z3_align, conv_dir):
    # no shuffling and one sample per rank: rank 0 only ever sees the image conversations (even rows),
    # rank 1 only the text-only ones (odd rows) -- the mixed case that hangs ZeRO-3 without the dummy image
    args = instruct_args(workdir, "z3_instruct", 3, "z3_align", f"[{{path: {conv_dir}}}]")
    lora = "train.lora={r: 4, alpha: 8, target_modules: [q_proj, v_proj]}"
    assert_ok(
        launch(workdir, "tiny_instruct.yaml", *args, "data.shuffle=false", "train.micro_batch_size=1", lora)
    )
    return workdir / "runs" / "z3_instruct"


@pytest.fixture(scope="session")
def z3_dpo(workdir, z3_instruct, pref_dir):
    lora = "train.lora={r: 8, alpha: 16, target_modules: [q_proj, k_proj, v_proj, o_proj]}"
    extra = (
        f"data.sources=[{{path: {pref_dir}}}]",
        lora,
        "dpo.reference=lora_disabled",
        "dpo.loss=ipo",
        "train.lr=1e-2",
    )
    assert_ok(launch(workdir, "tiny_dpo.yaml", *dpo_args("z3_dpo", 3, "z3_instruct", *extra)))
    return workdir / "runs" / "z3_dpo"


@pytest.fixture(scope="session")
def z3_dpo_copy(workdir, z3_instruct, pref_dir):
    """ZeRO-3 DPO with the `copy` reference (llava_dpo.yaml's setting), run length set by epochs."""
    extra = (f"data.sources=[{{path: {pref_dir}}}]", "train.max_steps=null", "train.epochs=1")
    assert_ok(launch(workdir, "tiny_dpo.yaml", *dpo_args("z3_dpo_copy", 3, "z3_instruct", *extra)))
    return workdir / "runs" / "z3_dpo_copy"


@pytest.fixture(scope="session")
def z2_align_export(workdir, z2_align, tmp_path_factory):
    """`train export` of the ZeRO-2 stage-1 run, made once; a test that overwrites it works on a copy."""
    out = tmp_path_factory.mktemp("z2_align_export") / "export"
    assert_ok(run_train(workdir, "export", str(z2_align), str(out), timeout=300))
    return out


def losses(run) -> dict[int, float]:
    return {step: row["loss"] for step, row in read_metrics(run).items()}


def check_run(run, steps: int) -> dict[int, dict]:
    metrics = read_metrics(run)
    assert sorted(metrics) == list(range(1, steps + 1))
    for row in metrics.values():
        assert math.isfinite(row["loss"]) and row["samples"] > 0 and row["tokens_per_s"] > 0
        assert math.isfinite(row["grad_norm"]) and any(k.startswith("lr_") for k in row)
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "latest").is_file()
    return metrics


def test_align_zero2_trains_only_the_projector(workdir, z2_align, z2_align_export):
    from training.model.build import build_vlm

    check_run(z2_align, 6)
    out = z2_align_export
    toy = workdir / "toy"
    lm_before, lm_after = (
        load_file(str(toy / "lm" / "model.safetensors")),
        load_file(str(out / "lm" / "model.safetensors")),
    )
    assert lm_before.keys() == lm_after.keys()
    assert all(torch.equal(lm_before[k], lm_after[k]) for k in lm_before), "stage 1 changed LM weights"
    vision_before = load_file(str(toy / "open_clip" / "open_clip_model.safetensors"))
    vision_after = load_file(str(out / "vision" / "vision.safetensors"))
    for key, value in vision_after.items():
        assert torch.equal(vision_before[key], value), f"stage 1 changed vision weight {key}"
    cfg = ModelConfig(
        vision=VisionConfig(name=str(toy / "open_clip"), pretrained=None),
        projector=ProjectorConfig(type="mlp2x_gelu"),
        lm=LMConfig(name=str(toy / "lm")),
    )
    initial = build_vlm(cfg, seed=0)[0].projector.state_dict()
    trained = load_file(str(out / "projector" / "projector.safetensors"))
    handoff = load_file(str(z2_align / "handoff" / "projector.safetensors"))
    assert all(not torch.equal(initial[k], trained[k]) for k in initial), "every projector tensor must train"
    assert all(torch.equal(handoff[k], trained[k]) for k in trained)


def test_instruct_zero2_mixture_counts_bad_rows(z2_instruct, conv_dir):
    metrics = check_run(z2_instruct, 6)
    last = metrics[6]
    assert {"lr_projector", "lr_lm", "lr_vision"} <= set(last)  # one param group each, own lr
    assert last["dropped_image_count_mismatch"] > 0 and last["dropped_bad_image"] > 0
    evals = read_metrics(z2_instruct, split="eval")
    assert sorted(evals) == [3, 6] and all(math.isfinite(r["loss"]) for r in evals.values())
    handoff = z2_instruct / "handoff"
    assert (handoff / "vlm.json").is_file() and (handoff / "lm" / "config.json").is_file()


def test_dpo_zero2_reward_accuracy_and_margin_rise(z2_dpo):
    metrics = check_run(z2_dpo, 12)
    acc = [metrics[s]["reward_accuracy"] for s in sorted(metrics)]
    margin = [metrics[s]["reward_margin"] for s in sorted(metrics)]
    assert margin[0] == pytest.approx(0.0, abs=1e-6)  # policy == reference at the first step
    assert sum(acc[-4:]) / 4 > sum(acc[:4]) / 4 + 0.25
    assert sum(margin[-4:]) / 4 > sum(margin[:4]) / 4 + 0.05
    assert margin[-1] > margin[len(margin) // 2] > margin[0]


def test_align_zero3(z3_align, z2_align):
    check_run(z3_align, 6)
    assert (z3_align / "handoff" / "projector.safetensors").is_file()


def test_instruct_zero3_text_only_rank_does_not_hang(z3_instruct, conv_dir):
    rows = pq.read_table(conv_dir / "data" / "part-00000.parquet").to_pylist()
    assert [bool(r["images"]) for r in rows[:4]] == [True, False, True, False]  # what each rank gets
    check_run(z3_instruct, 6)


def test_dpo_zero3_copy_reference_and_lm_are_sharded(z3_dpo_copy, pref_dir):
    """Under ZeRO-3 with 2 ranks, rank 0 holds about half of the LM (built inside zero.Init) and about half of
    the reference (its own ZeRO-3 engine), never a whole copy; `train.epochs=1` sets the run length."""
    summary = json.loads((z3_dpo_copy / "summary.json").read_text())
    held = summary["parameters_on_rank0"]
    assert 0.4 < held["lm_local_elements"] / held["lm_elements"] < 0.6, held
    assert 0.4 < held["reference_local_elements"] / held["reference_elements"] < 0.6, held
    # 8 preference rows, 2 ranks x micro-batch 2 = 4 pairs per step: one epoch is 2 steps
    assert summary["steps"] == 2 and summary["epochs"] == pytest.approx(1.0)
    metrics = check_run(z3_dpo_copy, 2)
    assert metrics[1]["reward_margin"] == pytest.approx(0.0, abs=1e-6)  # the reference equals the start
    config = (z3_dpo_copy / "config.yaml").read_text()
    assert str(z3_dpo_copy.parent / "z3_instruct" / "handoff" / "lm") in config  # what it started from


def test_dpo_zero3_lora_ipo(z3_dpo):
    metrics = check_run(z3_dpo, 12)
    margin = [metrics[s]["reward_margin"] for s in sorted(metrics)]
    assert sum(margin[-4:]) > sum(margin[:4])
    assert (z3_dpo / "handoff" / "lm" / "config.json").is_file()


def resume_matches(workdir, config: str, args: list[str], kill_at: int, saved_at: int, reference) -> None:
    name = args[0].split("/")[-1]
    killed = launch(workdir, config, *args, env={KILL_ENV: str(kill_at)})
    assert killed.returncode != 0, "the fault-injected run should have died"
    run = workdir / "runs" / name
    assert (run / "checkpoints" / "latest").read_text() == f"step-{saved_at:08d}"
    assert max(read_metrics(run)) == kill_at  # steps after the checkpoint were logged, and will be replayed
    assert_ok(launch(workdir, config, *args, resume=True))
    expected, got = losses(reference), losses(run)  # read_metrics fails on a step logged twice
    assert sorted(got) == sorted(expected)
    for step in expected:
        assert abs(got[step] - expected[step]) <= 1e-6, (step, got[step], expected[step])


def test_resume_align_reproduces_losses(workdir, coco_dir, z2_align):
    args = align_args(workdir, coco_dir, "z2_align_resumed", 2)
    resume_matches(workdir, "tiny_align.yaml", args, kill_at=5, saved_at=3, reference=z2_align)
    again = launch(workdir, "tiny_align.yaml", *args, resume=True)  # the run is finished: no step is left
    assert_ok(again)
    assert re.search(
        r"resumed at step (\d+): ran 0 steps in 0:00:\d\d \(no step left to run\); the run: \1 steps",
        again.stdout,
    )
    assert "tokens/s" not in again.stdout


def test_resume_dpo_reproduces_losses(workdir, pref_dir, z2_dpo):
    args = dpo_args("z2_dpo_resumed", 2, "z2_instruct", f"data.sources=[{{path: {pref_dir}}}]")
    resume_matches(workdir, "tiny_dpo.yaml", args, kill_at=6, saved_at=6, reference=z2_dpo)


def test_missing_column_fails_before_launch(workdir, tmp_path):
    from curation.io.shards import write_table_shards

    from .conftest import conversation_table

    write_table_shards(conversation_table(2).drop_columns(["messages"]), tmp_path / "nomsg")
    config = str(CONFIGS / "tiny_instruct.yaml")
    proc = run_train(
        workdir,
        "launch",
        config,
        "--num-gpus",
        "2",
        f"data.sources=[{{path: {tmp_path / 'nomsg'}}}]",
        timeout=60,
    )
    assert proc.returncode == 2
    assert "missing column 'messages'" in proc.stderr


def test_unusable_data_fails_with_counts_instead_of_hanging(workdir, bad_conv_dir, z2_align):
    """Every sample is dropped: the run stops with an error naming the drop counts (both ranks agree)."""
    args = instruct_args(workdir, "all_bad", 3, "z2_align", f"[{{path: {bad_conv_dir}}}]")
    proc = launch(workdir, "tiny_instruct.yaml", *args, "data.max_empty_batches=3", "data.eval.sources=[]")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "train: error: no usable sample in the last 3 steps" in proc.stderr
    # 3 steps x 2 ranks x 2 samples over the two bad rows (one of each kind)
    assert "'dropped_image_count_mismatch': 6.0" in proc.stdout + proc.stderr
    assert "'dropped_bad_image': 6.0" in proc.stdout + proc.stderr


def test_a_run_that_trains_on_no_sample_fails_without_a_handoff(workdir, coco_dir):
    """Every image is cut by max_length in a run too short for max_empty_batches: not a finished run with an
    untrained hand-off, but a one-line error with the drop counts."""
    need_coco()
    args = align_args(workdir, coco_dir, "no_sample", 2)
    proc = launch(workdir, "tiny_align.yaml", *args, "model.max_length=4", "train.max_steps=2", ranks=1)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert (
        "train: error: the run trained on no sample in 2 steps; dropped: {'dropped_truncated_image': 4}"
        in (proc.stderr)
    )
    assert not (workdir / "runs" / "no_sample" / "handoff").exists()


def test_a_run_that_failed_before_its_first_checkpoint_is_rerun_without_overwrite(workdir, coco_dir):
    """A run that failed after its ranks started left config.yaml (and metrics) in output_dir, and the fixed
    rerun was refused without --overwrite; with no checkpoint or hand-off there, it now starts afresh."""
    need_coco()
    run = workdir / "runs" / "failed_early"
    args = align_args(workdir, coco_dir, "failed_early", 2)
    proc = launch(
        workdir, "tiny_align.yaml", *args, "model.max_length=4", "data.max_empty_batches=1", ranks=1
    )
    assert proc.returncode == 2 and "train: error: no usable sample in the last 1 steps" in proc.stderr
    assert (run / "config.yaml").is_file() and not any((run / "checkpoints").glob("*"))
    proc = launch(workdir, "tiny_align.yaml", *args, "train.max_steps=1", ranks=1)
    assert_ok(proc)
    assert (run / "handoff" / "projector.json").is_file()
    assert "max_length: 64" in (run / "config.yaml").read_text()
    assert sorted(read_metrics(run)) == [1]
    # a finished run is still refused without --resume or --overwrite (test_run_dir.py launches that case)
    assert not failed_before_checkpoint(run)


def test_killed_train_export_overwrite_leaves_a_complete_export(workdir, z2_align, z2_align_export, tmp_path):
    """`train export --overwrite` killed while writing removed the earlier export and left a partial one (no
    vlm.json): whatever moment the kill lands, the folder holds one complete export."""
    out = tmp_path / "export"
    shutil.copytree(z2_align_export, out)  # the complete export `train export` wrote for this run
    complete = sorted(str(p.relative_to(out)) for p in out.rglob("*"))

    def state() -> set[tuple[str, int]]:
        try:
            return {(str(p), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")}
        except FileNotFoundError:  # a file went away while listing: it is at work
            return set()

    before = state()
    with start_train(workdir, "export", str(z2_align), str(out), "--overwrite") as proc:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while state() == before:  # until it writes or removes anything
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == complete


def session_processes(sid: int) -> list[int]:
    """Pids of the live processes in session `sid`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                pass
    return pids


def test_sigterm_to_train_launch_stops_every_rank(workdir, coco_dir):
    """`kill` (SIGTERM) of the `train launch` process mid-run stops the launcher and both ranks too."""
    need_coco()
    before = shm_buffers()
    overrides = ["output_dir=runs/sigterm", "train.max_steps=100000", "checkpoint.every=100000"]
    overrides.append(f"data.sources=[{{path: {coco_dir}}}]")
    cmd = ["launch", str(CONFIGS / "tiny_align.yaml"), "--num-gpus", "2", *overrides]
    proc = start_train(workdir, *cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        metrics = workdir / "runs" / "sigterm" / "metrics.jsonl"
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while not (metrics.exists() and metrics.read_text().strip()):  # both ranks are training
            assert proc.poll() is None, "the run ended before it was signalled"
            assert time.monotonic() < deadline, "no training step logged"
            time.sleep(0.5)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
        deadline = time.monotonic() + 60
        while session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert session_processes(proc.pid) == [], "ranks or launcher outlived `train launch`"
    finally:
        if session_processes(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert shm_buffers() <= before
