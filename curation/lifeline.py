"""A run's processes end with its driver.

The embedded Ray's processes and its workers (in process groups of their own) outlive a driver killed with
SIGKILL: some for seconds, Ray's agents for good. `start_reaper` starts a small watcher, in a session of its own,
that follows the driver's process tree and kills what is left of it when the driver is gone. Workers also check
`driver_gone` before they write, so nothing is written for a driver that no longer exists.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

DRIVER_ENV = "MMCURATE_DRIVER"  # host:pid:start time of the driver, inherited by the embedded Ray's workers
POLL_SECONDS = 0.5


def _identity(pid: int) -> str:
    """host:pid:start time of a live process (psutil.NoSuchProcess for an exited one, zombies included)."""
    import psutil

    proc = psutil.Process(pid)
    if proc.status() == psutil.STATUS_ZOMBIE:
        raise psutil.NoSuchProcess(pid)
    return f"{socket.gethostname()}:{pid}:{proc.create_time()}"


def start_reaper() -> subprocess.Popen:
    """Mark this process as the driver (for workers started after this) and start its reaper."""
    os.environ[DRIVER_ENV] = _identity(os.getpid())
    return subprocess.Popen(
        [sys.executable, "-m", "curation.lifeline", str(os.getpid())],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def driver_gone() -> bool:
    """True in a worker whose driver (on this host) has exited; False where no driver is recorded."""
    recorded = os.environ.get(DRIVER_ENV)
    if not recorded:
        return False
    host, pid, _ = recorded.rsplit(":", 2)
    if host != socket.gethostname():
        return False
    import psutil

    try:
        return _identity(int(pid)) != recorded
    except psutil.Error:
        return True


def exit_if_driver_gone() -> None:
    """End this worker process at once when its driver is gone (called before every write of a result)."""
    if driver_gone():
        os._exit(1)


def reap(driver_pid: int) -> None:
    """Follow the driver's process tree until the driver exits, then kill every process of it still running."""
    import psutil

    try:
        driver = psutil.Process(driver_pid)
    except psutil.Error:
        return
    known: dict[int, psutil.Process] = {}
    while True:
        try:
            if driver.status() == psutil.STATUS_ZOMBIE:
                break
            for child in driver.children(recursive=True):
                if child.pid != os.getpid():
                    known.setdefault(child.pid, child)
        except psutil.Error:
            break
        time.sleep(POLL_SECONDS)
    survivors = [p for p in known.values() if p.is_running()]  # is_running is False for a reused pid
    for proc in list(survivors):
        try:
            survivors.extend(c for c in proc.children(recursive=True) if c.pid not in known)
        except psutil.Error:
            continue
    for proc in survivors:
        try:
            proc.kill()  # psutil refuses to signal a reused pid
        except psutil.Error:
            continue


if __name__ == "__main__":
    reap(int(sys.argv[1]))
