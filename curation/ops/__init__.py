"""Row-local ops (Mapper, Filter), one module per family, and the op model and registry (`base`).

An op module registers its classes with `@register("name")` on import. `load_builtin_ops` finds every module under
`curation/` whose source registers an op (stage families included: dedup/, select/, ...) and imports it, so a new
op or stage needs no list edited. User ops come from the modules a recipe names in `plugins:`.

May import: `curation.rows`, `curation.models`, `curation.text` and its own modules; never `curation.runner`.
"""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path

from curation.ops.base import REGISTRY, Filter, Mapper, Op, Stage, register

_REGISTERS = re.compile(r"^@register\(", re.MULTILINE)


@functools.cache
def op_modules() -> tuple[str, ...]:
    """The modules under `curation/` that register an op (read from their source, nothing imported)."""
    root = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted(root.rglob("*.py")):
        if _REGISTERS.search(path.read_text(encoding="utf-8")):
            parts = path.relative_to(root.parent).with_suffix("").parts
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return tuple(found)


def load_builtin_ops() -> dict[str, type[Op]]:
    """Import every built-in op module (idempotent) and return the registry."""
    for module in op_modules():
        importlib.import_module(module)
    return REGISTRY


__all__ = ["REGISTRY", "Filter", "Mapper", "Op", "Stage", "load_builtin_ops", "op_modules", "register"]
