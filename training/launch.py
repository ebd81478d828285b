"""`train launch`: validate the config and data up front, then start every rank through the DeepSpeed launcher.

One CPU process, several local ranks, one GPU node (`--num-gpus`) or many nodes (`--hostfile`) all go through
`deepspeed.launcher.runner`, which runs `python -m training.worker` on each rank.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from training import output_lock
from training.config import ConfigError, load_config
from training.preflight import CONFIG_NAME, check_output_dir, check_resume_world, preflight, replace_run

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def launcher_command(
    config: str | Path,
    overrides: list[str],
    num_gpus: int | None = None,
    hostfile: str | None = None,
    resume: bool = False,
    master_port: int | None = None,
) -> list[str]:
    """The DeepSpeed launcher command line for this run.

    Multi-node runs go through `deepspeed.launcher.runner` (pdsh/MPI/...); a single node goes straight to
    `deepspeed.launcher.launch` (through `training.launcher`), which is what the runner would exec for it anyway.
    """
    port = str(master_port or free_port())
    if hostfile:
        cmd = [sys.executable, "-u", "-m", "deepspeed.launcher.runner", "--hostfile", str(hostfile)]
        cmd += ["--master_port", port, "--no_local_rank", "--module", "training.worker"]
    else:
        ranks = num_gpus or max(_cuda_devices(), 1)
        world_info = base64.urlsafe_b64encode(json.dumps({"localhost": list(range(ranks))}).encode()).decode()
        # deepspeed.launcher.launch, without its interpreter teardown (training/launcher.py)
        cmd = [sys.executable, "-u", "-m", "training.launcher", f"--world_info={world_info}"]
        cmd += [
            "--master_addr=127.0.0.1",
            f"--master_port={port}",
            "--no_local_rank",
            "--module",
            "training.worker",
        ]
    cmd.append(str(Path(config).resolve()))
    if resume:
        cmd.append("--resume")
    return cmd + list(overrides)


def launch(
    config: str | Path,
    overrides: list[str],
    num_gpus: int | None = None,
    hostfile: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> int:
    """Validate, then run the launcher in the foreground; returns its exit code."""
    cfg = load_config(config, overrides)
    if hostfile and not Path(hostfile).is_file():  # DeepSpeed would train on this node alone, with a warning
        raise ConfigError(f"--hostfile {hostfile}: no such file")
    replace = check_output_dir(cfg, resume, overwrite)  # finished work is refused before anything is loaded
    recorded = Path(cfg.output_dir) / CONFIG_NAME
    if replace and recorded.exists() and recorded.samefile(config):  # removed before the ranks could read it
        raise ConfigError(f"{config} is the record of the run this launch replaces: launch a copy of it")
    if resume and not hostfile:
        check_resume_world(cfg, num_gpus or max(_cuda_devices(), 1))
    preflight(cfg)
    lock = output_lock.hold(Path(cfg.output_dir))  # held by the launcher too: the run is live while it is
    try:
        if replace:  # only once the new run is known to start
            replace_run(cfg)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        if "DS_ACCELERATOR" not in env and not _cuda_devices():
            env["DS_ACCELERATOR"] = "cpu"
        cmd = launcher_command(config, overrides, num_gpus, hostfile, resume)
        return run_forwarding_signals(cmd, env, (lock,))
    finally:
        os.close(lock)


def run_forwarding_signals(cmd: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> int:
    """Run the launcher in the foreground and pass SIGTERM, SIGINT and SIGHUP on to it; return its exit code.

    The DeepSpeed launcher stops its ranks when it gets one of these; without the forwarding, a `train launch`
    stopped by `kill` or a scheduler would exit alone and leave the ranks running.
    """
    with subprocess.Popen(cmd, env=env, pass_fds=pass_fds) as proc:

        def forward(signum: int, _frame: object) -> None:
            proc.send_signal(signum)

        forwarded = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {signum: signal.signal(signum, forward) for signum in forwarded}
        try:
            return proc.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
