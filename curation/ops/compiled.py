"""The optional Cython modules of curation.ops (built at install where a C compiler is present)."""

from __future__ import annotations

import importlib
from types import ModuleType


def compiled_module(name: str) -> ModuleType | None:
    """`curation.ops.<name>`, or None where it was not built or was built against an lxml whose element layout
    differs from the one installed (Cython refuses that import with a ValueError); callers fall back to their
    Python/numpy twins."""
    try:
        return importlib.import_module(f"curation.ops.{name}")
    except (ImportError, ValueError):
        return None
