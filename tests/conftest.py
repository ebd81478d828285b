"""Shared fixtures: repository paths, the optional ../shared/data folder, and one local Ray for the session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MMCURATE_SHARED_DATA", REPO.parent / "shared" / "data"))
BUNDLED = REPO / "data"
PLUGINS = REPO / "tests" / "plugins"  # test ops that recipes load through `plugins:`


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; the calling test is skipped with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"needs {path} (the third-party data folder ../shared/data is not present on this machine)"
        )
    return path


@pytest.fixture(scope="session")
def shared():
    """`shared("warc", "x.warc.gz")` -> the path under ../shared/data, or skip the test with the reason."""
    return shared_path


@pytest.fixture(scope="session")
def ray_local():
    """An embedded local Ray shared by the tests of this session (never a cluster already running here)."""
    import ray

    if not ray.is_initialized():
        # Ray workers inherit the driver's environment: the test plugins import there as an installed package would
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), os.environ.get("PYTHONPATH")]))
        sys.path.insert(0, str(PLUGINS))
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
    yield ray
