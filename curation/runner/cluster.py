"""Start or join Ray for a run, tune Ray Data for this driver, and say what the phases can use."""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
from dataclasses import dataclass

import ray

from curation.lifeline import start_reaper

# Start-up notices of Ray that tell a person running `curate` nothing: token authentication enabled on the local
# cluster (Ray's default; the notice for a cluster *without* it still shows) and Ray Data's "Progress bars
# disabled" (curate draws its own progress line per phase).
NOTICES = {
    "ray._private.authentication.authentication_token_setup": "Token authentication is enabled for this",
    "ray.data._internal.progress": "Progress bars disabled",
}
# where an embedded Ray keeps its session folder (sockets, logs, spilled objects); socket paths must stay short
TEMP_HINT = "its session folder goes under $RAY_TMPDIR, else $TMPDIR, else /tmp"
# to take a TCP connection and answer as a gRPC server: Ray itself retries an address that does not for 30 s
# (ray://) and over 13 minutes (HOST:PORT: 20 tries of 40 s each)
REACH_SECONDS = 5
HTTP2_PREFACE = (
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
)  # + empty SETTINGS
SETTINGS_FRAME = 0x04  # HTTP/2 frame type, the 4th byte of a frame header


class ClusterError(RuntimeError):
    """Ray could not be started, or the cluster at the given address could not be joined."""


@dataclass(frozen=True)
class Cluster:
    """What the phases need to know of the Ray cluster."""

    workers: int
    has_gpu: bool


class _DropNotice(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def _quiet_notices() -> None:
    for name, prefix in NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotice) for f in logger.filters):
            logger.addFilter(_DropNotice(prefix))


def _one_line(exc: BaseException, limit: int = 400) -> str:
    """Ray's message on one line (its GCS start failure quotes log lines), cut to `limit` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _answers_http2(conn: socket.socket) -> bool:
    """Whether the server answers HTTP/2's connection preface with a SETTINGS frame, as every gRPC server (a Ray
    GCS, a Ray client server) does at once; False on silence past the socket's timeout or a close."""
    conn.sendall(HTTP2_PREFACE)
    head = b""
    try:
        while len(head) < 9:
            chunk = conn.recv(9 - len(head))
            if not chunk:
                break
            head += chunk
    except OSError:
        return False
    return len(head) == 9 and head[3] == SETTINGS_FRAME


def _check_reachable(address: str) -> None:
    """A `[ray://]HOST:PORT` that does not take a TCP connection, or does not answer as a gRPC server within
    seconds, is a ClusterError (Ray would retry it for minutes); other forms (`auto`, a malformed address) are
    left to `ray.init`. A cluster with TLS (RAY_USE_TLS) is only checked for the connection."""
    host, colon, port = address.removeprefix("ray://").rpartition(":")
    if not (colon and host and port.isdigit()):
        return
    try:
        conn = socket.create_connection((host.strip("[]"), int(port)), timeout=REACH_SECONDS)
    except OSError as exc:
        raise ClusterError(f"cannot reach Ray at {address}: {exc}") from None
    with conn:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true") or _answers_http2(conn):
            return
    raise ClusterError(
        f"cannot join Ray at {address}: something listens there but does not answer as Ray does (no gRPC reply "
        f"in {REACH_SECONDS} s); give the head's GCS address (`ray start --port`, 6379 by default) or "
        "ray://HOST:PORT of its client server (10001 by default)"
    )


def _ignore_ctrl_c() -> None:
    """Run at exit before Ray's own shutdown (a second or two), which a Ctrl-C would only turn into a traceback;
    the reaper ends what is left of a local Ray either way."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_ray(address: str | None, max_workers: int | None) -> Cluster:
    """Start (or join) Ray and tune Ray Data for this driver; an address that cannot be joined is a ClusterError.

    Ray Data splits every read into at least 200 blocks by default, which turns a small stage into hundreds of
    tasks and a 200-way sort; blocks here follow the data (files of bounded size) and the cluster's cores.
    """
    _quiet_notices()
    if not ray.is_initialized():
        # no address (and no RAY_ADDRESS): a Ray of our own, never a cluster someone else started on this machine
        address = address or os.environ.get("RAY_ADDRESS") or "local"
        if address == "local":
            start_reaper()  # this Ray's processes end with this driver, however it ends
        else:
            _check_reachable(address)
        try:
            ray.init(
                address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
            )
        except (ValueError, ConnectionError, TimeoutError) as exc:  # a malformed address, no cluster there
            raise ClusterError(f"cannot start or join Ray at {address}: {_one_line(exc)}") from None
        except (RuntimeError, OSError) as exc:  # a local Ray that cannot start: its session folder, its GCS
            where = f"start Ray here ({TEMP_HINT})" if address == "local" else f"join Ray at {address}"
            raise ClusterError(f"cannot {where}: {_one_line(exc)}") from None
        atexit.register(_ignore_ctrl_c)  # after `import ray` registered its shutdown: runs before it
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    ctx.read_op_min_num_blocks = 2 * cpus
    ctx.default_hash_shuffle_parallelism = 2 * cpus
    return Cluster(workers=max_workers or cpus, has_gpu=ray.cluster_resources().get("GPU", 0) > 0)
