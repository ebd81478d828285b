"""Issue 18, whole runs: good records of bad input reach the output, hostile pages cannot wedge a worker, resume
refuses a different input, and a killed run leaves no process behind and writes nothing after the kill."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.cli import main
from curation.io.shards import MANIFEST_NAME
from curation.ops.html import HtmlExtract
from curation.recipe import load_recipe
from curation.runner.run import run_recipe
from tests.cli_process import communicate_or_kill, curate
from tests.curation.warc_craft import jsonl


def _write_recipe(path: Path, inputs: list[str], steps: list) -> str:
    path.write_text(json.dumps({"name": "t", "input": {"paths": inputs}, "steps": steps}))
    return str(path)


def test_a_gzip_encoded_page_is_kept_not_dropped_by_language_id(ray_local, tmp_path):
    recipe = _write_recipe(
        tmp_path / "r.yaml",
        ["data/warc/warcio_example.warc.gz"],
        [{"html_extract": {}}, {"language_id": {"keep": ["en"]}}],
    )
    result = run_recipe(load_recipe(recipe), output=str(tmp_path / "out"))
    assert result.stats["totals"]["identity_holds"]
    assert result.manifest["total_rows"] == 1  # the example.com page, decoded from its Content-Encoding: gzip


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("engine", "deep"),
    # `blocks`' lxml parser caps nesting, so it extracts the deep page (no text), but never falls back to
    # resiliparse on it
    [("resiliparse", "html_too_deep"), ("trafilatura", "html_too_deep"), ("blocks", "empty_text")],
)
def test_hostile_html_is_counted_not_parsed(engine, deep):
    hostile = {
        "nested": b"<div>" * 1_000_000,
        "unclosed": "".join(
            ["<b>", "<i>", "<span>", "<a href=x>", "<font>"][i % 5] for i in range(350_000)
        ).encode(),
        "huge": b"<p>" + b"word " * (2 << 20),
    }
    good = b"<html><body><p>A page that reads normally.</p></body></html>"
    batch = pa.table(
        {
            "payload": [*hostile.values(), good],
            "content_type": ["text/html"] * 4,
            "http_charset": ["utf-8"] * 4,
        }
    )
    out = HtmlExtract(engine=engine, max_html_bytes=8 << 20).evaluate(batch)
    assert "_error" not in out.column_names
    assert out.column("_drop").to_pylist() == [
        deep,
        "html_too_many_unclosed_tags",
        "html_too_large",
        None,
    ]
    assert out.column("text")[3].as_py() == "A page that reads normally."


def test_resume_refuses_a_different_input_or_limit(ray_local, tmp_path, capsys):
    docs, other = tmp_path / "docs.jsonl", tmp_path / "other.jsonl"
    docs.write_bytes(jsonl(30))
    other.write_bytes(jsonl(5))
    recipe = _write_recipe(tmp_path / "r.yaml", [str(docs)], [{"gopher_quality": {"tag_only": True}}])
    out = tmp_path / "out"
    run_recipe(load_recipe(recipe), output=str(out), limit=20)
    assert main(["run", recipe, "--output", str(out), "--resume"]) == 2
    assert "resume needs the same --limit: the run had 20, now None" in capsys.readouterr().err
    assert (
        main(["run", recipe, "--output", str(out), "--resume", "--limit", "20", "--input", str(other)]) == 2
    )
    assert "resume needs the same input" in capsys.readouterr().err
    assert main(["run", recipe, "--output", str(out), "--resume", "--limit", "20"]) == 0


def test_resume_takes_the_same_input_however_its_patterns_are_spelled(ray_local, tmp_path, monkeypatch):
    """The digest and the resume check follow the files the patterns match, not the patterns: a glob that matches
    the same files, or the relative spelling from another folder, continues the run; the plan's files are
    absolute, so the resumed units still find them."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("demo-1.jsonl", "demo-2.jsonl"):
        (folder / name).write_bytes(jsonl(6))
    recipe = _write_recipe(
        tmp_path / "r.yaml", [str(folder / "*.jsonl")], [{"gopher_quality": {"tag_only": True}}]
    )
    out = tmp_path / "out"
    first = run_recipe(load_recipe(recipe), output=str(out)).manifest
    (out / "_work" / "p00_segment" / "units" / "u00000001.json").unlink()  # as if interrupted there
    (out / MANIFEST_NAME).unlink()
    monkeypatch.chdir(tmp_path)
    args = ["run", recipe, "--output", str(out), "--resume", "--input", "in/demo*.jsonl"]
    assert main(args) == 0
    resumed = json.loads((out / MANIFEST_NAME).read_text())
    assert resumed["recipe"]["digest"] == first["recipe"]["digest"]
    assert resumed["shards"] == first["shards"] and resumed["inputs"] == first["inputs"]
    assert main([*args[:-1], "in/demo-1.jsonl", "--input", str(folder / "demo-2.jsonl")]) == 0
    assert (
        main([*args[:-1], "in/demo-2.jsonl", "--input", "in/demo-1.jsonl"]) == 2
    )  # another order: other rows


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_killed_driver_leaves_no_process_and_no_later_write(tmp_path):
    """SIGKILL `curate run` once its first unit is done: within seconds no process of the run is left, and no
    file of the output changes after the kill."""
    src = tmp_path / "in"
    src.mkdir()
    for i in range(8):
        (src / f"part{i}.jsonl").write_bytes(jsonl(4000))
    recipe = _write_recipe(
        tmp_path / "r.yaml",
        [f"{src}/*.jsonl"],
        [{"gopher_repetition": {}}, {"gopher_quality": {}}, {"c4_quality": {}}],
    )
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    driver = subprocess.Popen(
        [sys.executable, "-m", "curation.cli", "run", recipe, "--output", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    markers = out / "_work" / "p00_segment" / "units"
    deadline = time.time() + 90
    while time.time() < deadline and not (markers.exists() and any(markers.iterdir())):
        assert driver.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    tree = psutil.Process(driver.pid).children(recursive=True)
    assert any("lifeline" in " ".join(p.cmdline()) for p in tree)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    killed_at = time.time()
    time.sleep(3)
    survivors = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for proc in survivors:  # leave nothing behind even when the test fails
        proc.kill()
    assert not survivors, [p.pid for p in survivors]
    # a file under its own name (a write the reaper's SIGKILL cut short leaves only its `.NAME.tmp-PID`, never
    # renamed; one its worker finished after the kill is removed by the worker)
    late = [
        p for p in out.rglob("*") if p.is_file() and ".tmp-" not in p.name and p.stat().st_mtime > killed_at
    ]
    assert not late, late
    assert len(list(markers.iterdir())) < 8  # it was killed mid-run


@pytest.mark.timeout(120)
@pytest.mark.parametrize("address", ["garbage", "ray://127.0.0.1:1"])
def test_an_address_with_no_ray_is_exit_2_and_leaves_the_output_as_it_was(tmp_path, address):
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(jsonl(5))
    recipe = _write_recipe(tmp_path / "r.yaml", [str(docs)], [{"gopher_quality": {"tag_only": True}}])
    out = tmp_path / "out"
    proc = curate("run", recipe, "--output", str(out), "--address", address)
    log, _ = communicate_or_kill(proc, timeout=60)
    assert proc.returncode == 2, log
    assert log.splitlines()[-1].startswith("error: cannot ") and address in log and "Traceback" not in log
    assert not out.exists()  # so a rerun needs no --resume


@pytest.fixture
def not_ray() -> Iterator[int]:
    """The port of a plain TCP server on 127.0.0.1 that takes connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # the server closed at the end of the test
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_where_something_else_listens_is_exit_2_within_seconds(tmp_path, not_ray, scheme):
    """Ray alone retries such an address for 30 s (ray://) or over 13 minutes (HOST:PORT)."""
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(jsonl(5))
    recipe = _write_recipe(tmp_path / "r.yaml", [str(docs)], [{"gopher_quality": {"tag_only": True}}])
    address = f"{scheme}127.0.0.1:{not_ray}"
    started = time.monotonic()
    proc = curate("run", recipe, "--output", str(tmp_path / "out"), "--address", address)
    log, _ = communicate_or_kill(proc, timeout=60)
    assert proc.returncode == 2, log
    assert time.monotonic() - started < 25, log
    assert (
        log.strip()
        .splitlines()[-1]
        .startswith(f"error: cannot join Ray at {address}: something listens there")
    )
    assert "Traceback" not in log and not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ctrl_c_is_one_line_and_the_run_resumes(ray_local, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(8):
        (src / f"part{i}.jsonl").write_bytes(jsonl(4000))
    recipe = _write_recipe(
        tmp_path / "r.yaml", [f"{src}/*.jsonl"], [{"gopher_repetition": {}}, {"c4_quality": {}}]
    )
    out = tmp_path / "out"
    proc = curate("run", recipe, "--output", str(out), "--set", "execution.max_workers=1")
    markers = out / "_work" / "p00_segment" / "units"
    deadline = time.time() + 90
    while not (markers.exists() and any(markers.iterdir())):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    log, _ = communicate_or_kill(proc, timeout=60)
    assert proc.returncode == 130, log
    assert log.splitlines()[-1] == "interrupted; rerun with --resume to continue" and "Traceback" not in log
    assert not (out / "_manifest.json").exists()
    args = ["run", recipe, "--output", str(out), "--set", "execution.max_workers=1", "--resume"]
    assert main(args) == 0
    totals = json.loads((out / "stats.json").read_text())["totals"]
    assert totals["input_records"] == 8 * 4000 and totals["identity_holds"]


@pytest.mark.parametrize("good", [0, 1])
def test_a_step_that_errors_on_every_row_ends_the_run_non_zero_with_its_output_written(
    ray_local, tmp_path, capsys, good
):
    photo = next(Path("data/images").glob("*.jpg")).read_bytes()
    images = [photo] * good + [b"not an image"] * (120 - good)
    pq.write_table(pa.table({"id": [str(i) for i in range(120)], "image": images}), tmp_path / "p.parquet")
    recipe = _write_recipe(tmp_path / "r.yaml", [str(tmp_path / "p.parquet")], [{"image_probe": {}}])
    out = tmp_path / "out"
    code = main(["run", recipe, "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    stats = json.loads((out / "stats.json").read_text())
    assert (out / "_manifest.json").exists() and stats["totals"]["identity_holds"]
    assert stats["steps"][1]["errors"] == {"image_probe:image:not_an_image": 120 - good}
    if good:
        assert code == 0 and not any(line.startswith("error:") for line in err)
    else:
        assert code == 1
        assert err[-1] == (
            "error: every row errored in image_probe: all 120 rows (mostly image_probe:image:not_an_image); "
            f"see {out}/stats.json"
        )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("where", ["under_a_file", "too_long_for_a_socket"])
def test_an_embedded_ray_that_cannot_start_is_exit_2_in_one_line(tmp_path, where):
    """Ray's own failures, reached through the variable Ray reads: its session folder cannot be made (a file in
    the way, as a full or read-only disk would refuse it even to root), or its socket paths would be too long."""
    (tmp_path / "a_file").write_text("x")
    tmpdir = tmp_path / "a_file" / "ray" if where == "under_a_file" else tmp_path / ("d" * 90)
    docs = tmp_path / "docs.jsonl"
    docs.write_bytes(jsonl(5))
    recipe = _write_recipe(tmp_path / "r.yaml", [str(docs)], [{"gopher_quality": {"tag_only": True}}])
    out = tmp_path / "out"
    proc = curate("run", recipe, "--output", str(out), env={"RAY_TMPDIR": str(tmpdir)})
    log, _ = communicate_or_kill(proc, timeout=60)
    assert proc.returncode == 2, log
    assert (
        log.strip().splitlines()[-1].startswith("error: cannot start Ray here (its session folder goes under")
    )
    assert str(tmpdir) in log and "Traceback" not in log
    assert not out.exists()
