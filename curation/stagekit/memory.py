"""Hand freed heap memory back to the OS at the end of a task.

Ray reuses a worker process for many tasks, and both Arrow's memory pool and glibc's malloc (numpy arrays,
Python objects) keep freed memory for reuse, so without this a worker's resident memory carries the high-water
mark of every task it ran before, and grows with the number of (and variety of) tasks rather than with the
largest single task.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import pyarrow as pa


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_memory() -> None:
    """Return the free pages of Arrow's default pool and of glibc's malloc arenas to the OS."""
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
