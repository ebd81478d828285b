"""A failing (strategy, seed) is that run's failure, whatever it raises: counted with a one-line reason per seed,
the other runs still trained, evaluated and tabled, and `curate bench` exits 2 only when no strategy finished."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

from curation.bench.evaluate import Evaluator
from curation.bench.scales import get_scale
from curation.bench.trainer import model_reference
from curation.cli import main

pytest.importorskip("open_clip_train.main")
pytestmark = pytest.mark.slow
COLORS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def _png(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (28, 28), color).save(buf, format="PNG")
    return buf.getvalue()


def _bench(
    tmp_path: Path, strategies: list[dict], seeds: list[int], templates: list[str], **scale: object
) -> Path:
    """A benchmark file: a 64-row pool of coloured squares, a zero-shot task over a folder per colour, and a tiny
    CLIP trained for two steps per run."""
    names = [n for n in COLORS for _ in range(32)]
    rows = {
        "uid": [f"u{i}" for i in range(len(names))],
        "image": [_png(COLORS[n]) for n in names],
        "caption": [f"a {n} square" for n in names],
        "score": [float(i) for i in range(len(names))],
    }
    (tmp_path / "pool").mkdir()
    pq.write_table(pa.table(rows), tmp_path / "pool" / "part-00000.parquet")
    for name, color in COLORS.items():
        (tmp_path / "task" / name).mkdir(parents=True)
        Image.new("RGB", (28, 28), color).save(tmp_path / "task" / name / "0.png")
    bench = {
        "output": str(tmp_path / "out"),
        "scale": "tiny",
        "scale_overrides": {"samples_seen": 64, "batch_size": 32, "warmup": 1, **scale},
        "seeds": seeds,
        "threads": 1,
        "pool": {"path": str(tmp_path / "pool")},
        "strategies": strategies,
        "tasks": [
            {"name": "colors", "kind": "zeroshot", "folder": str(tmp_path / "task")}
            | {"classnames": list(COLORS), "templates": templates}
        ],
    }
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(bench))
    return path


def test_an_evaluation_error_of_every_seed_is_counted_and_kept(tmp_path, capsys, monkeypatch):
    """An error of evaluation that is not an OSError or RuntimeError (here a KeyError injected where the trained
    model embeds the class prompts) ended the benchmark with a traceback; and of two failing seeds only the last
    one's reason was kept."""

    def broken(self, texts: list[str]):
        raise KeyError("x")

    monkeypatch.setattr(Evaluator, "texts", broken)
    path = _bench(tmp_path, [{"name": "none", "kind": "none"}], [0, 1], ["a {} square"])
    assert main(["bench", str(path)]) == 2
    captured = capsys.readouterr()
    reason = "seed 0: KeyError: 'x'; seed 1: KeyError: 'x'"
    assert f"strategy none failed: {reason}" in captured.out
    assert "error: no strategy finished a run" in captured.err and "Traceback" not in captured.err
    table = json.loads((tmp_path / "out" / "table.json").read_text())
    assert table["rows"] == [] and table["failed"] == {"none": reason}


def test_a_strategy_that_raises_fails_alone(tmp_path, capsys, monkeypatch):
    """A `python` strategy whose function raised a KeyError (it reads a column it did not list) ended the whole
    benchmark; now it is listed as failed and the other strategy's run is trained, written and ranked. The scale's
    model is a local open_clip folder given by its path (it was passed to open_clip_train as a model name)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    folder = tmp_path / "tiny_clip"
    model_reference(get_scale("tiny"), folder)  # writes the tiny scale's open_clip_config.json there
    strategies = [
        {"name": "none", "kind": "none"},
        {"name": "even", "kind": "python", "function": "strategy_plugin:even_scores"},  # no columns: [score]
    ]
    path = _bench(tmp_path, strategies, [0], ["a {} square"], model=str(folder))
    assert main(["bench", str(path)]) == 0
    captured = capsys.readouterr()
    assert "strategy even failed: KeyError: " in captured.out and "Traceback" not in captured.err
    table = json.loads((tmp_path / "out" / "table.json").read_text())
    assert [r["strategy"] for r in table["rows"]] == ["none"] and list(table["failed"]) == ["even"]
    assert json.loads((tmp_path / "out" / "runs" / "none" / "seed0" / "result.json").read_text())["seed"] == 0
    sys.modules.pop("strategy_plugin", None)
