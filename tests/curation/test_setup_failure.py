"""An op that cannot set up on a worker (a model that does not load there) ends `curate run` with one line naming
its step, whether its segment runs in the task pool or in an actor pool; once fixed, `--resume` finishes the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curation.cli import main
from curation.runner.segment import StepSetupError, setup_error

DEMO_WARC = Path(__file__).resolve().parents[2] / "data" / "warc" / "demo.warc.gz"


@pytest.mark.parametrize("op", ["needs_model_file", "needs_model_file_in_actor"])
def test_a_step_that_cannot_set_up_is_one_line_and_resume_finishes(ray_local, tmp_path, capsys, op):
    model = tmp_path / "model.bin"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        json.dumps(
            {
                "name": "t",
                "plugins": ["mmcurate_test_ops"],
                "input": {"paths": [str(DEMO_WARC)]},
                "steps": [{"url_filter": {}}, {op: {"model": str(model)}}],
            }
        )
    )
    run = ["run", str(recipe), "--output", str(tmp_path / "out"), "--limit", "5"]
    assert main(run) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"error: step {op} could not set up on a worker: FileNotFoundError: no model at {model}; once fixed, "
        "rerun with --resume to continue"
    )
    model.write_text("weights")
    assert main([*run, "--resume"]) == 0


def test_setup_error_is_found_in_an_exception_chain_and_in_text():
    failed = StepSetupError("clip_score", "OSError: no such file")
    try:
        try:
            raise failed
        except StepSetupError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as outer:
        assert setup_error(outer) is failed
    as_text = RuntimeError(
        f"worker traceback ...\ncuration.runner.segment.{type(failed).__name__}: {failed}\n"
    )
    found = setup_error(as_text)
    assert (found.step, found.reason) == ("clip_score", "OSError: no such file")
    assert setup_error(RuntimeError("something else")) is None
