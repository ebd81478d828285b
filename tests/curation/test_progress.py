"""`curate run` shows a progress line per phase (units done of total, rows, elapsed, ETA) instead of Ray's notices."""

from __future__ import annotations

import io
import json
import logging

from curation.cli import main
from curation.runner.cluster import NOTICES, start_ray
from curation.runner.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_final_line_per_phase_and_a_terminal_a_live_one():
    log = io.StringIO()
    progress = Progress(log)
    progress.start("p00_segment", 4, "units", done=1)  # one unit finished by an earlier (resumed) run
    progress.advance(1, rows=10)
    assert log.getvalue() == ""  # nothing until the phase ends
    assert progress.line().startswith("p00_segment: 2/4 units, 10 rows out, 0:00 elapsed, eta ")
    progress.advance(2, rows=5)
    progress.finish()
    assert log.getvalue().count("\n") == 1 and "4/4 units, 15 rows out" in log.getvalue()
    assert log.getvalue().endswith("done\n")

    terminal = _Terminal()
    live = Progress(terminal, interval=0.01)
    live.start("p01_stage_minhash_dedup", 100, "rows")
    live.advance(40, rows=30)
    live.finish()
    drawn = terminal.getvalue()
    assert drawn.count("\r") >= 2 and "40/100 rows, 30 rows out" in drawn and drawn.endswith("\n")


def test_ray_start_notices_are_dropped_and_other_warnings_kept(ray_local):
    start_ray(None, None)
    for name, prefix in NOTICES.items():
        logger = logging.getLogger(name)
        assert not logger.filter(logging.makeLogRecord({"msg": prefix + " ... (the rest of Ray's notice)"}))
        assert logger.filter(
            logging.makeLogRecord({"msg": "Token authentication is disabled for this cluster"})
        )


def test_curate_run_prints_a_line_per_phase(ray_local, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    steps = [{"url_filter": {}}, {"url_dedup": {}}]
    recipe.write_text(
        json.dumps({"name": "p", "input": {"paths": ["data/warc/demo.warc.gz"]}, "steps": steps})
    )
    assert main(["run", str(recipe), "--output", str(tmp_path / "o"), "--limit", "5"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["p00_segment", "p01_stage_url_dedup", "shards"]
    assert lines[0].startswith("p00_segment: 1/1 units, 5 rows out") and lines[0].endswith("done")
    assert lines[1].startswith("p01_stage_url_dedup: 5/5 rows")
    # killed after its phases finished (no manifest yet): the resumed phases show what they had written
    (tmp_path / "o" / "_manifest.json").unlink()
    args = ["run", str(recipe), "--output", str(tmp_path / "o"), "--limit", "5", "--resume"]
    assert main(args) == 0
    resumed = capsys.readouterr().err.splitlines()
    assert resumed[0].startswith("p00_segment: 1/1 units, 5 rows out")
    assert resumed[1].startswith("p01_stage_url_dedup: 5/5 rows, 5 rows out")
