"""The refinedweb recipe on the bundled demo WARC, run once per session and shared by the tests that read it."""

from __future__ import annotations

import pytest

from curation.recipe import load_recipe
from curation.runner.run import RunResult, run_recipe

DEMO_OVERRIDES = ["input.unit_bytes=400000", "output.shard_rows=25"]


@pytest.fixture(scope="session")
def demo_run(ray_local, tmp_path_factory) -> RunResult:
    """refinedweb.yaml on data/warc/demo.warc.gz, embedded Ray, `DEMO_OVERRIDES`."""
    out = tmp_path_factory.mktemp("refinedweb")
    return run_recipe(load_recipe("pipelines/refinedweb.yaml", DEMO_OVERRIDES), output=str(out / "run"))
