"""Every module that registers an op is imported when a recipe loads, so what it imports at module level must come
with the core install (`bash scripts/bootstrap.sh`, no extras): the README's first command runs on that."""

from __future__ import annotations

import ast
import contextlib
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from curation.ops import op_modules

REPO = Path(__file__).resolve().parents[2]
tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11's tomllib")


def _core_distributions() -> set[str]:
    """The core requirements in pyproject.toml and everything they require in turn (extras left out)."""
    seen: set[str] = set()
    todo = [tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]]
    while todo:
        for text in todo.pop():
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            key = req.name.lower().replace("_", "-")
            if key not in seen:
                seen.add(key)
                with contextlib.suppress(metadata.PackageNotFoundError):
                    todo.append(metadata.requires(req.name) or [])
    return seen


def _top_level_imports(path: Path) -> set[str]:
    """Top-level package names imported at module level (not inside functions or classes)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_op_modules_import_only_core_dependencies_at_module_level():
    core = _core_distributions()
    providers = metadata.packages_distributions()
    missing = {}
    for module in op_modules():
        path = REPO / (module.replace(".", "/") + ".py")
        for name in _top_level_imports(path):
            if name in sys.stdlib_module_names or name in ("curation", "training", "__future__"):
                continue
            dists = {d.lower().replace("_", "-") for d in providers.get(name, [])}
            if not dists & core:
                missing.setdefault(module, []).append(name)
    assert not missing, f"module-level imports outside the core install (import them where used): {missing}"
