"""Zero-shot and retrieval evaluation of a saved open_clip checkpoint, checked against a direct forward."""

from __future__ import annotations

import gzip
import io
import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.bench.evaluate import Evaluator, Task, TaskDataMissing, check_task
from curation.bench.idx import read_idx
from curation.bench.scales import TINY_MODEL

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def checkpoint(tmp_path):
    """A random tiny CLIP saved the way open_clip_train saves (a dict with `state_dict`), and its model folder."""
    from curation.bench.scales import get_scale
    from curation.bench.trainer import model_reference

    ref = model_reference(get_scale("tiny"), tmp_path / "model")
    torch.manual_seed(0)
    model = open_clip.CLIP(**TINY_MODEL)
    torch.save(
        {"epoch": 1, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}},
        tmp_path / "c.pt",
    )
    return ref, tmp_path / "c.pt"


def test_idx_round_trip_and_bad_header(tmp_path):
    data = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x.gz", data)
    assert (read_idx(tmp_path / "x.gz") == data).all()
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(tmp_path / "bad")


def test_zeroshot_and_retrieval_match_a_direct_forward(tmp_path, checkpoint):
    ref, ckpt = checkpoint
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (12, 28, 28), dtype=np.uint8)
    labels = np.arange(12) % 3
    _write_idx(tmp_path / "i.gz", images)
    _write_idx(tmp_path / "l.gz", labels)
    classes, templates = ["bag", "dress", "coat"], ["a photo of a {}.", "a {}"]
    task = Task("zs", "zeroshot", {"images": str(tmp_path / "i.gz"), "labels": str(tmp_path / "l.gz"),
                                   "classnames": classes, "templates": templates})  # fmt: skip
    ev = Evaluator(ref, ckpt)
    got = ev.run(task)

    model, _, preprocess = open_clip.create_model_and_transforms(ref)
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    model.eval()
    tok = open_clip.get_tokenizer(ref)
    from PIL import Image

    with torch.no_grad():
        x = torch.stack([preprocess(Image.fromarray(a).convert("RGB")) for a in images])
        img = torch.nn.functional.normalize(model.encode_image(x), dim=-1)
        heads = []
        for c in classes:
            t = torch.nn.functional.normalize(
                model.encode_text(tok([p.format(c) for p in templates])), dim=-1
            )
            heads.append(torch.nn.functional.normalize(t.mean(0), dim=-1))
        pred = (img @ torch.stack(heads).T).argmax(1).numpy()
    assert got["acc"] == pytest.approx(float((pred == labels).mean()))

    buf = []
    for a in images[:6]:
        b = io.BytesIO()
        Image.fromarray(a).save(b, format="PNG")
        buf.append(b.getvalue())
    captions = [f"a photo of a {classes[i % 3]} number {i}" for i in range(6)]
    pq.write_table(pa.table({"image": buf, "caption": captions}), tmp_path / "pairs.parquet")
    r = ev.run(Task("ret", "retrieval", {"path": str(tmp_path / "pairs.parquet")}))
    with torch.no_grad():
        sim = (img[:6] @ torch.nn.functional.normalize(model.encode_text(tok(captions)), dim=-1).T).numpy()
    assert r["image_to_text_r1"] == pytest.approx(float((sim.argmax(1) == np.arange(6)).mean()))
    assert r["text_to_image_r1"] == pytest.approx(float((sim.argmax(0) == np.arange(6)).mean()))


def test_tasks_without_data_say_what_is_missing(tmp_path):
    with pytest.raises(TaskDataMissing, match="images file .*nope.gz does not exist"):
        check_task(Task("t", "zeroshot", {"images": str(tmp_path / "nope.gz"), "labels": "x",
                                          "classnames": ["a"], "templates": ["{}"]}))  # fmt: skip
    with pytest.raises(TaskDataMissing, match="no pairs parquet given"):
        check_task(Task("r", "retrieval", {}))
    with pytest.raises(ValueError, match="unknown kind 'vqa'"):
        check_task(Task("v", "vqa", {}))
    with pytest.raises(ValueError, match="needs classnames and templates"):
        check_task(Task("z", "zeroshot", {"folder": str(tmp_path)}))


def test_zeroshot_tasks_that_would_score_wrong_are_refused(tmp_path):
    """Labels beyond the class list (a prediction can never match them) and a template without {} (every class
    gets the same prompt) gave a silently wrong accuracy; an empty class list is refused too."""
    _write_idx(tmp_path / "images.gz", np.zeros((4, 2, 2)))
    _write_idx(tmp_path / "labels.gz", np.array([0, 1, 2, 9]))
    idx = {"images": str(tmp_path / "images.gz"), "labels": str(tmp_path / "labels.gz")}
    with pytest.raises(ValueError, match="labels run from 0 to 9, but 3 classnames are given"):
        check_task(Task("t", "zeroshot", idx | {"classnames": ["a", "b", "c"], "templates": ["a {}."]}))
    check_task(
        Task("t", "zeroshot", idx | {"classnames": ["a", "b", "c"], "templates": ["a {}."], "limit": 3})
    )
    pq.write_table(pa.table({"image": [b"x"] * 2, "label": [0, 3]}), tmp_path / "p.parquet")
    with pytest.raises(ValueError, match="labels run from 0 to 3, but 2 classnames are given"):
        check_task(Task("p", "zeroshot", {"parquet": str(tmp_path / "p.parquet"), "classnames": ["a", "b"],
                                          "templates": ["{}"]}))  # fmt: skip
    with pytest.raises(ValueError, match=r"every template needs \{\} where the class name goes"):
        check_task(Task("t", "zeroshot", idx | {"classnames": list("abcdefghij"), "templates": ["a photo."]}))
    for template, error in (
        ("a {} square{x}", "KeyError"),
        ("{} and {}", "IndexError"),
        ("a {} {", "ValueError"),
    ):
        with pytest.raises(ValueError, match=f"template .* cannot be filled with a class name \\({error}"):
            check_task(Task("t", "zeroshot", idx | {"classnames": ["a", "b", "c"], "templates": [template]}))
    check_task(
        Task(
            "t", "zeroshot", idx | {"classnames": ["a", "b", "c"], "templates": ["{{{}}}", "{0}"], "limit": 3}
        )
    )
    with pytest.raises(ValueError, match="needs classnames and templates"):
        check_task(Task("t", "zeroshot", idx | {"classnames": [], "templates": ["{}"]}))
    # found only when the first trained model was evaluated: a ValueError that ended the whole benchmark
    pq.write_table(pa.table({"image": [b"x"], "text": ["c"]}), tmp_path / "pairs.parquet")
    with pytest.raises(ValueError, match="pairs.parquet has no column 'caption' \\(columns: image, text\\)"):
        check_task(Task("r", "retrieval", {"path": str(tmp_path / "pairs.parquet")}))
    pq.write_table(pa.table({"jpg": [b"x"], "label": [0]}), tmp_path / "q.parquet")
    with pytest.raises(ValueError, match="q.parquet has no column 'image'"):
        check_task(Task("q", "zeroshot", {"parquet": str(tmp_path / "q.parquet"), "classnames": ["a"],
                                          "templates": ["{}"]}))  # fmt: skip
    with pytest.raises(ValueError, match="classnames must be a list of strings, got 'abcdefghij'"):
        check_task(Task("t", "zeroshot", idx | {"classnames": "abcdefghij", "templates": ["{}"]}))
