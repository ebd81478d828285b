"""clip_benchmark tasks: its own evaluation code on a local WebDataset gives our zero-shot accuracy and recall."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from curation.bench.clipbench import DATACOMP_TASKS
from curation.bench.config import parse_bench
from curation.bench.evaluate import Evaluator, Task, TaskDataMissing, check_task
from curation.bench.fashion import CLASSNAMES, load_split

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")
pytest.importorskip("clip_benchmark")

TEMPLATES = ["a photo of a {}.", "a black and white photo of the {}."]


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _write_wds(root, samples: list[tuple[str, dict[str, bytes]]], **text_files: str) -> None:
    """clip_benchmark's `wds/` layout: test/0.tar + test/nshards.txt + the named text files at the root."""
    (root / "test").mkdir(parents=True)
    with tarfile.open(root / "test" / "0.tar", "w") as tar:
        for key, files in samples:
            for ext, data in files.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    (root / "test" / "nshards.txt").write_text("1\n")
    for name, text in text_files.items():
        (root / f"{name}.txt").write_text(text)


@pytest.fixture
def evaluator(tmp_path):
    """A tiny CLIP (seeded random weights) saved as open_clip_train saves it, loaded by path."""
    from curation.bench.scales import TINY_MODEL, get_scale
    from curation.bench.trainer import model_reference

    ref = model_reference(get_scale("tiny"), tmp_path / "model")
    torch.manual_seed(3)
    model = open_clip.CLIP(**TINY_MODEL)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "c.pt")
    return Evaluator(ref, tmp_path / "c.pt", batch_size=64)


def test_clip_benchmark_matches_our_zeroshot_and_retrieval(tmp_path, shared, evaluator):
    images, labels = load_split(shared("fashion_mnist"), "t10k")
    images, labels = images[:200], labels[:200].astype(np.int64)
    cls_root = tmp_path / "wds_fashion"
    samples = [
        (f"s{i:04d}", {"png": _png(a), "cls": str(int(y)).encode()})
        for i, (a, y) in enumerate(zip(images, labels, strict=True))
    ]
    _write_wds(
        cls_root,
        samples,
        classnames="\n".join(CLASSNAMES),
        zeroshot_classification_templates="\n".join(t.replace("{}", "{c}") for t in TEMPLATES),
    )
    ours = {"classnames": list(CLASSNAMES), "templates": TEMPLATES}
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"image": [_png(a) for a in images], "label": labels}), tmp_path / "same.parquet")
    task = Task("fashion_cb", "clip_benchmark", {"dataset": "wds/fashion", "root": str(cls_root)})
    check_task(task)
    got = evaluator.run(task)
    want = evaluator.run(Task("fashion", "zeroshot", {"parquet": str(tmp_path / "same.parquet"), **ours}))
    assert got["acc1"] == pytest.approx(want["acc"], abs=1e-9)
    assert got["mean_per_class_recall"] == pytest.approx(want["mean_per_class_recall"], abs=1e-9)
    assert 0 < got["acc1"] < 1

    captions = [f"a photo of a {CLASSNAMES[y]} number {i}" for i, y in enumerate(labels[:20])]
    ret_root = tmp_path / "wds_pairs"
    pairs = [
        (f"p{i:03d}", {"png": _png(a), "txt": c.encode()})
        for i, (a, c) in enumerate(zip(images[:20], captions, strict=True))
    ]
    _write_wds(ret_root, pairs, dataset_type="retrieval")
    pq.write_table(
        pa.table({"image": [_png(a) for a in images[:20]], "caption": captions}), tmp_path / "pairs.parquet"
    )
    params = {"dataset": "wds/pairs", "root": str(ret_root), "task": "zeroshot_retrieval"}
    r = evaluator.run(Task("pairs_cb", "clip_benchmark", params))
    mine = evaluator.run(Task("pairs", "retrieval", {"path": str(tmp_path / "pairs.parquet")}))
    # clip_benchmark reports recall in float32; one pair is 0.05 of it
    assert r["image_retrieval_recall@1"] == pytest.approx(mine["text_to_image_r1"], abs=1e-6)
    assert r["text_retrieval_recall@1"] == pytest.approx(mine["image_to_text_r1"], abs=1e-6)


def test_datacomp_suite_expands_to_38_tasks_each_skipped_with_its_reason(tmp_path):
    (tmp_path / "evalsets" / "wds_vtab-cifar100_test").mkdir(parents=True)
    raw = {
        "pool": {"path": "p"},
        "strategies": [{"name": "none", "kind": "none"}],
        "tasks": [{"name": "dc", "kind": "datacomp", "root": "evalsets"}],
    }
    cfg = parse_bench(raw, "b.yaml", tmp_path)
    assert [t.name for t in cfg.tasks] == list(DATACOMP_TASKS) and len(cfg.tasks) == 38
    reasons = {}
    for t in cfg.tasks:
        with pytest.raises((TaskDataMissing, ValueError)) as err:
            check_task(t)
        reasons[t.name] = str(err.value)
    assert "wds_imagenet1k_test does not exist" in reasons["imagenet1k"]
    assert "shard count" in reasons["vtab/cifar100"]  # the folder is there, its shards are not
    assert "DataComp's own evaluator" in reasons["wilds/fmow"]
    # clip_benchmark's own loaders (not `wds/`) are opened before training: absent data is a skip, not a crash
    with pytest.raises(TaskDataMissing, match="cannot open cifar10"):
        check_task(Task("c10", "clip_benchmark", {"dataset": "cifar10", "root": str(tmp_path)}))
