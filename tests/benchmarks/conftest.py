"""Load the benchmark scripts (plain files under benchmarks/, not a package) as modules for their smoke tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="session")
def bench():
    """`bench("extraction")` -> the module benchmarks/extraction.py (its `common` import resolved)."""

    def load(name: str) -> ModuleType:
        if str(BENCHMARKS) not in sys.path:
            sys.path.insert(0, str(BENCHMARKS))
        return importlib.import_module(name)

    return load
