"""The package layering that the docstrings promise: the runner and the stage kit import no stage family, the
families import no runner, and each internal column name is defined once (in `curation.rows`)."""

from __future__ import annotations

import ast
from pathlib import Path

from curation.ops import op_modules

CURATION = Path(__file__).resolve().parents[2] / "curation"
ALLOWED_OP_IMPORTS = ("curation.ops.base",)  # the op model is below everything


def _imports(package: str) -> dict[str, set[str]]:
    """Every `curation.*` module imported by each module of `package` (a folder under curation/)."""
    out = {}
    for path in sorted((CURATION / package).rglob("*.py")):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("curation"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("curation"))
        out[str(path.relative_to(CURATION))] = found
    return out


def _families() -> set[str]:
    """The packages that hold ops or stages (curation.ops, curation.dedup, curation.select, ...)."""
    return {m.rsplit(".", 1)[0] for m in op_modules()}


def _bad(imports: dict[str, set[str]], forbidden: set[str]) -> dict[str, list[str]]:
    def hit(name: str) -> bool:
        allowed = any(name == a or name.startswith(a + ".") for a in ALLOWED_OP_IMPORTS)
        return not allowed and any(name == f or name.startswith(f + ".") for f in forbidden)

    bad = {mod: sorted(n for n in names if hit(n)) for mod, names in imports.items()}
    return {mod: names for mod, names in bad.items() if names}


def test_runner_and_stage_kit_import_no_stage_family():
    families = _families()
    assert {"curation.ops", "curation.dedup", "curation.select"} <= families
    for package in ("runner", "stagekit"):
        assert _bad(_imports(package), families) == {}, package


def test_stage_families_and_the_kit_import_no_runner():
    for package in [f.split(".", 1)[1] for f in _families()] + ["stagekit"]:
        assert _bad(_imports(package), {"curation.runner"}) == {}, package


def test_internal_columns_are_defined_once():
    definitions = []
    for path in CURATION.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and node.value.value in ("_order", "_drop", "_error", "reject_reason")
            ):
                definitions.append((str(path.relative_to(CURATION)), node.value.value))
    assert sorted(definitions) == [
        ("rows.py", "_drop"),
        ("rows.py", "_error"),
        ("rows.py", "_order"),
        ("rows.py", "reject_reason"),
    ]
