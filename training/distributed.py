"""Process-group start-up for the ranks of one run."""

from __future__ import annotations

import os
from pathlib import Path

import deepspeed
import torch.distributed as dist
from deepspeed.accelerator import get_accelerator

SHM_DIR = Path("/dev/shm")


def shm_buffer_path(rank: int) -> Path:
    """Where DeepSpeed's CPU all-reduce op (`shm_comm`) keeps this rank's shared buffer for this run."""
    addr, port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
    return SHM_DIR / f"deepspeed_allreduce_buffer_{os.getuid()}_{addr}_{port}_{rank}"


def init_process_group() -> None:
    """Start torch.distributed through DeepSpeed; then unlink this rank's CPU all-reduce buffer name.

    On the CPU accelerator DeepSpeed's `shm_comm` op creates a ~66 MiB RAM-backed file per rank and never
    removes it, so every run would leak its buffers into `/dev/shm` for good. Every rank maps all its peers'
    buffers while the process group starts; after a barrier the names are no longer needed, and without them
    the kernel frees the memory when the ranks exit, however they exit. (No file exists on GPU runs.)
    """
    deepspeed.init_distributed(dist_backend=get_accelerator().communication_backend_name())
    dist.barrier()
    shm_buffer_path(dist.get_rank()).unlink(missing_ok=True)
