"""Peak memory and time of whole `curate run`s over hostile inputs (issue 18), against a clean input's run.

python benchmarks/bad_input_memory.py [--workdir DIR]

Each run is a `curate run` subprocess (embedded Ray, 2 CPUs); the resident memory of its whole process tree
(driver, Ray's processes, workers) is sampled every 0.1 s. Inputs are made here: a 1 GiB gzip bomb as an ARC
record body (`Content-Encoding: gzip`) and as a WARC gzip member, 1,000,000 nested `<div>`s, 350,000 unclosed
formatting tags, a 200 MB JSONL line, and `data/warc/demo.warc.gz` as the clean peer.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.curation.warc_craft import gzip_bomb, http_response, jsonl, warc_record  # noqa: E402


def _inputs(folder: Path) -> dict[str, tuple[Path, list]]:
    html_steps = [{"html_extract": {}}, {"language_id": {"keep": ["en"]}}]
    bomb = gzip_bomb(1 << 30)
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n" + bomb
    desc = b"filedesc://x.arc 0.0.0.0 20080619093439 text/plain 16\n1 0 CommonCrawl\n\n"
    (folder / "bomb.arc").write_bytes(
        desc + b"http://bomb/ 1.2.3.4 20080509190241 text/html %d\n" % len(http) + http
    )
    member_bomb = gzip_bomb(1 << 30)  # a WARC gzip member inflating to 1 GiB of zeros
    ok = gzip.compress(warc_record("http://ok.example/", http_response("An ordinary page in English.")))
    (folder / "member_bomb.warc.gz").write_bytes(ok + member_bomb + ok)
    nested = http_response("", body=b"<div>" * 1_000_000)
    tags = "".join(["<b>", "<i>", "<span>", "<a href=x>", "<font>"][i % 5] for i in range(350_000)).encode()
    (folder / "hostile_html.warc").write_bytes(
        warc_record("http://nested/", nested) + warc_record("http://unclosed/", http_response("", body=tags))
    )
    (folder / "long_line.jsonl").write_bytes(
        jsonl(3) + b'{"id": "long", "text": "' + b"x" * (200 << 20) + b'"}\n' + jsonl(3)
    )
    return {
        "clean demo.warc.gz (peer)": (REPO / "data/warc/demo.warc.gz", html_steps),
        "ARC body gzip bomb 1 GiB": (folder / "bomb.arc", html_steps),
        "WARC gzip member bomb 1 GiB": (folder / "member_bomb.warc.gz", html_steps),
        "1M nested divs + 350k unclosed tags": (folder / "hostile_html.warc", html_steps),
        "JSONL line of 200 MB": (folder / "long_line.jsonl", [{"gopher_quality": {"tag_only": True}}]),
    }


def _run(recipe: Path, out: Path) -> tuple[int, float, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "curation.cli", "run", str(recipe), "--output", str(out)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    return proc.returncode, time.perf_counter() - started, peak / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="bad_input_memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("| input | exit | seconds | peak RSS of the run's processes (GiB) |\n|---|---|---|---|")
    for index, (name, (path, steps)) in enumerate(_inputs(folder).items()):
        recipe = folder / f"r{index}.yaml"
        recipe.write_text(json.dumps({"name": f"r{index}", "input": {"paths": [str(path)]}, "steps": steps}))
        code, seconds, peak = _run(recipe, folder / f"out{index}")
        print(f"| {name} | {code} | {seconds:.1f} | {peak:.2f} |", flush=True)


if __name__ == "__main__":
    main()
