"""`curate` as a child process in its own session (so a test can SIGKILL the driver and everything it started),
and a run of it against a 2-node `ray.cluster_utils.Cluster`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def curate(*args: str, **popen) -> subprocess.Popen:
    """Start `python -m curation.cli ARGS`, stdout and stderr merged into one text pipe; `env` adds variables."""
    return subprocess.Popen(
        [sys.executable, "-m", "curation.cli", *args],
        env={**os.environ, "PYTHONUNBUFFERED": "1", **popen.pop("env", {})},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def communicate_or_kill(proc: subprocess.Popen, timeout: float) -> tuple:
    """`proc.communicate(timeout)`; past the timeout its whole process group is killed (the launcher and what it
    started: `proc` must lead a session of its own) before TimeoutExpired is raised, so nothing is left running."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise


def sets(overrides: list[str]) -> list[str]:
    """Recipe overrides as `--set` arguments."""
    return [arg for override in overrides for arg in ("--set", override)]


def run_on_two_nodes(*args: str, timeout: float = 600) -> None:
    """Run `curate ARGS --address <cluster>` on a fresh head + worker node (one CPU each); fails with its log."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        proc = curate(*args, "--address", cluster.address)
        log, _ = communicate_or_kill(proc, timeout)
        assert proc.returncode == 0, log
    finally:
        cluster.shutdown()


def kill_when_exists(marker: Path, *args: str, timeout: float = 400) -> None:
    """Run `curate ARGS` and SIGKILL its whole process group as soon as `marker` exists."""
    proc = curate(*args)
    deadline = time.time() + timeout
    while not marker.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, f"{marker} never appeared"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
