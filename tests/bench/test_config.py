"""BENCH.yaml validation: mistakes are named before anything runs; `curate bench` exits 2 with the message."""

from __future__ import annotations

import pytest
import yaml

from curation.bench.config import BenchError, load_bench
from curation.cli import main

BASE = {
    "pool": {"path": "pool"},
    "strategies": [{"name": "none", "kind": "none"}],
    "tasks": [{"name": "t", "kind": "zeroshot"}],
}


def _load(tmp_path, **changes):
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(BASE | changes))
    return load_bench(path)


def _zeroshot(folder) -> dict:
    """A zero-shot task of one class whose data folder is `folder`."""
    return {"name": "t", "kind": "zeroshot", "folder": str(folder), "classnames": ["a"], "templates": ["{}"]}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"seed": [0]}, "b.yaml.seed: unknown key"),
        (
            {"strategies": [{"name": "x", "kind": "clip_magic"}]},
            r"strategies\[0\] \(x\): unknown kind 'clip_magic'",
        ),
        (
            {"strategies": [{"name": "x", "kind": "none"}, {"name": "x", "kind": "none"}]},
            "duplicate name 'x'",
        ),
        ({"pool": {"path": "p", "fashion_mnist": {}}}, "exactly one of path"),
        ({"pool": {"path": "p", "teacher": {}}}, "a teacher is trained only on a built pool"),
        ({"seeds": "0"}, "seeds: a non-empty list of integers"),
        ({"scale_overrides": {"samples": 5}}, "scale override 'samples' is not a scale setting"),
        ({"tasks": []}, "tasks: must be a non-empty list"),
        ({"tasks": [{"name": "t", "kind": "zeroshot", "limt": 5}]}, r"tasks\[0\] \(t\).limt: unknown key"),
        (
            {"tasks": [{"name": "t", "kind": "linear_probe"}]},
            r"tasks\[0\] \(t\): unknown kind 'linear_probe'",
        ),
        # caught before the pool is built and scored, not as a skip (or a traceback) hours later
        (
            {"strategies": [{"name": "x", "kind": "top_fraction", "column": "s", "fraction": -0.3}]},
            r"strategies\[0\] \(x\): fraction must be a number in \(0, 1\], got -0.3",
        ),
        (
            {"strategies": [{"name": "x", "kind": "threshold", "column": "s", "mn": 0.3}]},
            r"strategies\[0\] \(x\): bad parameters for kind 'threshold': got an unexpected keyword",
        ),
        (
            {"strategies": [{"name": "x", "kind": "steps", "steps": [{"caption_filtr": {}}]}]},
            r"strategies\[0\] \(x\): steps\[0\].caption_filtr: unknown op",
        ),
        ({"strategies": [{"name": "x", "kind": "random"}]}, "random needs exactly one of fraction, k"),
        ({"seeds": [0, 1, 0]}, "seeds: 0 is listed twice"),
        (  # it dropped rows from the pool all strategies select from (`none` included)
            {"pool": {"path": "p", "score": [{"caption_filter": {}}]}},
            r"pool.score\[0\].caption_filter: set tag_only: true",
        ),
        (  # found after bench.json was written, so the fixed file was refused
            {"pool": {"path": "p", "score": [{"caption_filtr": {"tag_only": True}}]}},
            "pool.score: steps\\[0\\].caption_filtr: unknown op",
        ),
        ({"pool": {"path": "p", "columns": ["img"]}}, "pool.columns: a mapping of uid, image, caption"),
        ({"pool": {"path": "p", "columns": {"imgae": "jpg"}}}, "pool.columns.imgae: unknown key"),
        (  # the name is a folder of the output: this one wrote outside it
            {"strategies": [{"name": "../../elsewhere", "kind": "none"}]},
            r"strategies\[0\]: name '../../elsewhere' must be letters, digits",
        ),
        ({"workers": "two"}, "workers: expected an integer >= 0, got 'two'"),
        ({"samples_per_shard": 0}, "samples_per_shard: expected an integer >= 1, got 0"),
        ({"output": None}, "output: expected a folder path, got None"),
        ({"scale_overrides": {"batch_size": "x"}}, "scale override batch_size: expected int >= 1, got 'x'"),
        (
            {"pool": {"fashion_mnist": {}, "teacher": {"samples_seen": 0}}},
            "pool.teacher: scale override samples_seen: expected int >= 1, got 0",
        ),
    ],
)
def test_mistakes_are_named(tmp_path, changes, message):
    with pytest.raises(BenchError, match=message):
        _load(tmp_path, **changes)


def test_digest_ignores_output_and_parallelism_only(tmp_path):
    a = _load(tmp_path)
    assert _load(tmp_path, output="elsewhere", parallel=2, threads=1).digest == a.digest
    assert _load(tmp_path, seeds=[0, 1]).digest != a.digest


def test_cli_reports_a_bad_file(tmp_path, capsys):
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(BASE | {"strategies": [{"name": "x"}]}))
    assert main(["bench", str(path)]) == 2
    assert "strategies[0]: each item needs a name and a kind" in capsys.readouterr().err
    assert main(["bench", str(tmp_path / "missing.yaml")]) == 2


def test_a_benchmark_that_cannot_start_leaves_no_output(tmp_path, capsys):
    """A missing pool was found after bench.json was written: the fixed file was then refused without --resume
    and, having another digest, with it too."""
    out = tmp_path / "out"
    task = _zeroshot(tmp_path)
    bench = BASE | {"output": str(out), "pool": {"path": str(tmp_path / "no_pool")}, "tasks": [task]}
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(bench))
    assert main(["bench", str(path)]) == 2
    assert "no_pool: no parquet files" in capsys.readouterr().err
    assert not out.exists()
    fm = {"fashion_mnist": {"root": str(tmp_path / "no_fm")}}
    path.write_text(yaml.safe_dump(bench | {"pool": fm}))
    assert main(["bench", str(path)]) == 2
    assert "pool.fashion_mnist.root" in capsys.readouterr().err and not out.exists()


def test_a_pool_without_the_training_columns_is_refused_before_it_is_used(tmp_path, capsys):
    """A pool lacking `image` (here: a text run's output) crashed with KeyError: 'image' once the first subset
    was exported, after the output folder was claimed; `--parallel 0` or below is refused by the parser."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "pool").mkdir()
    pq.write_table(pa.table({"uid": ["a"], "text": ["t"]}), tmp_path / "pool" / "part-00000.parquet")
    task = _zeroshot(tmp_path)
    out = tmp_path / "out"
    bench = BASE | {"output": str(out), "pool": {"path": str(tmp_path / "pool")}, "tasks": [task]}
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(bench))
    assert main(["bench", str(path)]) == 2
    assert "no column 'image', which training reads" in capsys.readouterr().err and not out.exists()
    with pytest.raises(SystemExit) as exit_:
        main(["bench", str(path), "--parallel", "-1"])
    assert exit_.value.code == 2 and "must be an integer >= 1" in capsys.readouterr().err


def test_an_unfinished_curate_run_is_no_pool(tmp_path, capsys):
    """A curate run killed midway holds `_work/` and some of its `data/` shards: benchmarking it silently ranked
    strategies on part of the pool."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    run = tmp_path / "scored"
    (run / "_work").mkdir(parents=True)
    (run / "data").mkdir()
    rows = {"uid": ["a"], "image": [b"x"], "caption": ["c"]}
    pq.write_table(pa.table(rows), run / "data" / "part-00000.parquet")
    task = _zeroshot(tmp_path)
    out = tmp_path / "out"
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(BASE | {"output": str(out), "pool": {"path": str(run)}, "tasks": [task]}))
    assert main(["bench", str(path)]) == 2
    assert "a curate run that has not finished (no _manifest.json)" in capsys.readouterr().err
    assert not out.exists()


def test_a_benchmark_where_no_strategy_runs_exits_2(tmp_path, capsys):
    """Every strategy selecting nothing left a table of failures and exit 0, as if the benchmark had ranked them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "pool").mkdir()
    rows = {"uid": ["a", "b"], "image": [b"x", b"y"], "caption": ["c", "d"], "score": [0.1, 0.2]}
    pq.write_table(pa.table(rows), tmp_path / "pool" / "part-00000.parquet")
    task = _zeroshot(tmp_path)
    strategy = {"name": "none_pass", "kind": "threshold", "column": "score", "min": 5.0}
    out = tmp_path / "out"
    bench = {
        "output": str(out),
        "pool": {"path": str(tmp_path / "pool")},
        "strategies": [strategy],
        "tasks": [task],
    }
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(bench))
    assert main(["bench", str(path)]) == 2
    captured = capsys.readouterr()
    assert "strategy none_pass failed: selects no rows of the 2-row pool" in captured.out
    assert "error: no strategy finished a run" in captured.err


def test_resume_of_a_changed_benchmark_names_what_changed(tmp_path):
    """The refusal gave two digests and no hint of which setting differed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curation.bench.run import _prepare_output, run_bench

    (tmp_path / "pool").mkdir()
    pq.write_table(
        pa.table({"uid": ["a"], "image": [b"x"], "caption": ["c"]}), tmp_path / "pool" / "p.parquet"
    )
    task = _zeroshot(tmp_path)
    bench = BASE | {
        "output": str(tmp_path / "out"),
        "pool": {"path": str(tmp_path / "pool")},
        "tasks": [task],
    }
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(bench))
    _prepare_output(load_bench(path), resume=False)
    path.write_text(yaml.safe_dump(bench | {"seeds": [0, 1], "parallel": 2}))
    with pytest.raises(
        BenchError, match=r"holds a different benchmark \(changed: seeds\); --resume continues"
    ):
        run_bench(load_bench(path), resume=True)
    path.write_text(yaml.safe_dump(bench))
    with pytest.raises(BenchError, match=r"\(changed: scale \(--scale\)\)"):
        run_bench(load_bench(path, scale="small"), resume=True)


def test_an_output_folder_of_something_else_is_refused(tmp_path):
    """A finished `curate run` (or any non-empty folder without bench.json) as `output` was written into as is."""
    from curation.bench.run import _prepare_output

    out = tmp_path / "out"
    (out / "data").mkdir(parents=True)
    (out / "_manifest.json").write_text("{}")
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(BASE | {"output": str(out)}))
    for resume in (False, True):
        with pytest.raises(BenchError, match="is not empty and holds no benchmark"):
            _prepare_output(load_bench(path), resume=resume)
    assert sorted(p.name for p in out.iterdir()) == ["_manifest.json", "data"]
    # a benchmark's scored pool alone (copied from an earlier output) is taken, as `prepare_pool` reuses it
    reused = tmp_path / "reused"
    (reused / "pool").mkdir(parents=True)
    (reused / "pool" / "built.json").write_text("{}")
    path.write_text(yaml.safe_dump(BASE | {"output": str(reused)}))
    _prepare_output(load_bench(path), resume=False)
    assert (reused / "bench.json").is_file()


@pytest.mark.parametrize("where", ["scale_overrides", "teacher"])
def test_a_model_whose_tokenizer_does_not_fit_its_text_tower_is_one_line_before_anything_trains(
    tmp_path, capsys, where
):
    """A model config whose text tower embeds 64 tokens (open_clip's tokenizer gives ids up to 49407) reached
    open_clip_train, which failed with a log tail; the teacher's only after the pool was built."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    from curation.bench.scales import TINY_MODEL

    model = {**TINY_MODEL, "text_cfg": {**TINY_MODEL["text_cfg"], "vocab_size": 64}}
    out = tmp_path / "out"
    bench = BASE | {"output": str(out), "tasks": [_zeroshot(tmp_path)]}
    if where == "teacher":
        (tmp_path / "fm").mkdir()
        bench["pool"] = {"fashion_mnist": {"root": str(tmp_path / "fm")}, "teacher": {"model": model}}
    else:
        (tmp_path / "pool").mkdir()
        png = io.BytesIO()
        Image.new("RGB", (28, 28), (200, 30, 30)).save(png, format="PNG")  # trainable: without the check,
        rows = {"uid": ["a"], "image": [png.getvalue()], "caption": ["c"]}  # open_clip_train fails on it
        pq.write_table(pa.table(rows), tmp_path / "pool" / "part-00000.parquet")
        overrides = {"model": model, "samples_seen": 8, "batch_size": 8, "warmup": 1}
        bench |= {"pool": {"path": str(tmp_path / "pool")}, "scale_overrides": overrides}
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(bench))
    assert main(["bench", str(path)]) == 2
    err = capsys.readouterr().err
    label = "pool.teacher" if where == "teacher" else "scale tiny"
    assert len(err.strip().splitlines()) == 1, err
    assert f"error: {label}: the CLIP model it trains: its tokenizer (49408 tokens, ids up to 49407)" in err
    assert "does not fit its text tower (64 token embeddings)" in err
    assert not out.exists()


def test_a_scoring_model_that_does_not_load_is_one_line_before_anything_is_built(tmp_path, capsys):
    """A `pool.score` step's model (not the teacher's) was first loaded when scoring began, after the pool was
    built and the teacher trained; a step naming `{teacher}` is left to the scoring (no teacher exists yet)."""
    out = tmp_path / "out"
    (tmp_path / "fm").mkdir()
    missing = tmp_path / "no_such_model"
    score = [
        {"clip_score": {"tag_only": True, "model": "{teacher}", "pretrained": None}},
        {"clip_score": {"tag_only": True, "model": str(missing), "pretrained": None}},
    ]
    bench = BASE | {
        "output": str(out),
        "tasks": [_zeroshot(tmp_path)],
        "pool": {"fashion_mnist": {"root": str(tmp_path / "fm")}, "score": score},
    }
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(bench))
    assert main(["bench", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "error: pool.score[1].clip_score#2: cannot load its model:" in err and str(missing) in err
    assert not out.exists()
