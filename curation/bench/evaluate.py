"""Zero-shot classification and image-text retrieval of a trained open_clip checkpoint on local data.

Tasks: `zeroshot` over IDX files (`images` + `labels`, the MNIST format), an image folder per class
(`folder`) or a parquet of `image` (bytes) + integer `label` rows (`parquet`), with class names and prompt
templates; `retrieval` over a parquet of `image` (bytes) + `caption`
pairs (image-to-text and text-to-image recall@1, and their mean); `clip_benchmark`: one of that package's
datasets on disk, evaluated by its own code (see `clipbench`). A task whose data is absent raises
`TaskDataMissing` naming what is missing, so the benchmark records it as skipped and carries on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curation.bench import clipbench

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


class TaskDataMissing(FileNotFoundError):
    """The data an evaluation task needs is not on this machine."""


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # zeroshot | retrieval | clip_benchmark
    params: dict[str, Any] = field(default_factory=dict)


def _need(path: str | None, task: str, what: str) -> Path:
    if not path:
        raise TaskDataMissing(f"task {task}: no {what} given")
    p = Path(path).expanduser()
    if not p.exists():
        raise TaskDataMissing(f"task {task}: {what} {p} does not exist")
    return p


_CACHE: dict[str, Any] = {}


def _cached(task: Task, load: Callable[[Task], Any]) -> Any:
    """Evaluation data is loaded once per process and task (every run of a benchmark reuses it)."""
    key = f"{task.kind}:{task.name}:{json.dumps(task.params, sort_keys=True, default=str)}"
    if key not in _CACHE:
        _CACHE[key] = load(task)
    return _CACHE[key]


def _pil(arrays: np.ndarray) -> list:
    from PIL import Image

    return [Image.fromarray(a).convert("RGB") for a in arrays]


def _classification_data(task: Task) -> tuple[list, np.ndarray]:
    p = task.params
    if "folder" in p:
        root = _need(p["folder"], task.name, "image folder")
        from PIL import Image

        images, labels = [], []
        for label, cls in enumerate(p["classnames"]):
            cdir = root / cls
            if not cdir.is_dir():
                raise TaskDataMissing(f"task {task.name}: class folder {cdir} does not exist")
            for f in sorted(cdir.iterdir()):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    images.append(Image.open(f).convert("RGB"))
                    labels.append(label)
        return images, np.array(labels)
    if "parquet" in p:
        return _parquet_classification(task)
    from curation.bench.idx import read_idx

    images = read_idx(_need(p.get("images"), task.name, "images file"))
    labels = read_idx(_need(p.get("labels"), task.name, "labels file")).astype(np.int64)
    limit = p.get("limit")
    if limit:
        images, labels = images[:limit], labels[:limit]
    return _pil(images), labels


def _parquet_classification(task: Task) -> tuple[list, np.ndarray]:
    import io

    import pyarrow.parquet as pq
    from PIL import Image

    p = task.params
    cols = [p.get("image_column", "image"), p.get("label_column", "label")]
    table = pq.read_table(_need(p["parquet"], task.name, "parquet"), columns=cols)
    table = table.slice(int(p.get("offset", 0)), p.get("limit"))
    images = [Image.open(io.BytesIO(b)).convert("RGB") for b in table.column(cols[0]).to_pylist()]
    return images, np.array(table.column(cols[1]).to_pylist(), dtype=np.int64)


def _retrieval_data(task: Task) -> tuple[list, list[str]]:
    import io

    import pyarrow.parquet as pq
    from PIL import Image

    table = pq.read_table(
        _need(task.params.get("path"), task.name, "pairs parquet"), columns=["image", "caption"]
    )
    images = [Image.open(io.BytesIO(b)).convert("RGB") for b in table.column("image").to_pylist()]
    return images, [str(c) for c in table.column("caption").to_pylist()]


# the keys a benchmark file may give each task kind (besides name and kind)
TASK_KEYS = {
    "zeroshot": ("images", "labels", "folder", "parquet", "image_column", "label_column", "offset", "limit")
    + ("classnames", "templates"),
    "retrieval": ("path",),
    "clip_benchmark": ("dataset", "root", "task", "metric", "split"),
}


def _need_columns(task: Task, path: str | Path, columns: list[str]) -> None:
    import pyarrow.parquet as pq

    names = pq.read_schema(_need(str(path), task.name, "parquet")).names
    missing = [c for c in columns if c not in names]
    if missing:
        raise ValueError(
            f"task {task.name}: {path} has no column {missing[0]!r} (columns: {', '.join(names)})"
        )


def _labels(task: Task) -> np.ndarray:
    """The integer labels of an IDX or parquet zeroshot task (what evaluation will read), without the images."""
    p = task.params
    if "parquet" in p:
        import pyarrow.parquet as pq

        column = p.get("label_column", "label")
        table = pq.read_table(_need(p["parquet"], task.name, "parquet"), columns=[column])
        return np.array(table.slice(int(p.get("offset", 0)), p.get("limit")).column(0).to_pylist())
    from curation.bench.idx import read_idx

    labels = read_idx(_need(p.get("labels"), task.name, "labels file"))
    return labels[: p["limit"]] if p.get("limit") else labels


def _check_zeroshot(task: Task) -> None:
    p = task.params
    if not p.get("classnames") or not p.get("templates"):
        raise ValueError(f"task {task.name}: zeroshot needs classnames and templates")
    for key in ("classnames", "templates"):  # a string would be read as a list of its characters
        if not isinstance(p[key], list) or not all(isinstance(v, str) for v in p[key]):
            raise ValueError(f"task {task.name}: {key} must be a list of strings, got {p[key]!r}")
    for template in p["templates"]:
        try:
            filled = template.format("\0")
        except (KeyError, IndexError, ValueError) as exc:  # `{x}`, a second `{}`, an unclosed brace
            raise ValueError(
                f"task {task.name}: template {template!r} cannot be filled with a class name "
                f"({type(exc).__name__}: {exc}); write {{}} where it goes, {{{{ and }}}} for literal braces"
            ) from None
        if "\0" not in filled:
            raise ValueError(f"task {task.name}: every template needs {{}} where the class name goes")
    if "folder" in p:  # a class per folder: the labels are the class names' positions
        _need(p["folder"], task.name, "image folder")
        return
    if "parquet" in p:
        _need_columns(task, p["parquet"], [p.get("image_column", "image"), p.get("label_column", "label")])
    else:
        _need(p.get("images"), task.name, "images file")
    labels = _labels(task)
    n = len(p["classnames"])
    if len(labels) and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(
            f"task {task.name}: labels run from {labels.min()} to {labels.max()}, but {n} classnames are given"
        )


def check_task(task: Task) -> None:
    """Raise TaskDataMissing (or ValueError for a malformed task) before any training starts."""
    p = task.params
    if task.kind == "zeroshot":
        _check_zeroshot(task)
    elif task.kind == "retrieval":
        _need_columns(task, _need(p.get("path"), task.name, "pairs parquet"), ["image", "caption"])
    elif task.kind == "clip_benchmark":
        clipbench.check(task)
    else:
        raise ValueError(
            f"task {task.name}: unknown kind {task.kind!r}; valid: zeroshot, retrieval, clip_benchmark"
        )


class Evaluator:
    """One trained model: embeds images and texts in batches on `device`."""

    def __init__(self, model_ref: str, checkpoint: Path, device: str = "cpu", batch_size: int = 512) -> None:
        import open_clip

        self.model, _, self.preprocess = open_clip.create_model_and_transforms(model_ref, device=device)
        open_clip.load_checkpoint(self.model, str(checkpoint), device=device)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(model_ref)
        self.device, self.batch_size = device, batch_size

    def images(self, images: list) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(images), self.batch_size):
                x = torch.stack([self.preprocess(im) for im in images[i : i + self.batch_size]]).to(
                    self.device
                )
                out.append(torch.nn.functional.normalize(self.model.encode_image(x).float(), dim=-1).cpu())
        return torch.cat(out).numpy()

    def texts(self, texts: list[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                t = self.tokenizer(texts[i : i + self.batch_size]).to(self.device)
                out.append(torch.nn.functional.normalize(self.model.encode_text(t).float(), dim=-1).cpu())
        return torch.cat(out).numpy()

    def zeroshot(self, task: Task) -> dict[str, float]:
        images, labels = _cached(task, _classification_data)
        classnames, templates = task.params["classnames"], task.params["templates"]
        heads = []
        for c in classnames:
            emb = self.texts([t.format(c) for t in templates]).mean(axis=0)
            heads.append(emb / np.linalg.norm(emb))
        pred = (self.images(images) @ np.stack(heads).T).argmax(axis=1)
        per_class = [float((pred[labels == k] == k).mean()) for k in range(len(classnames))]
        return {"acc": float((pred == labels).mean()), "mean_per_class_recall": float(np.mean(per_class))}

    def retrieval(self, task: Task) -> dict[str, float]:
        images, captions = _cached(task, _retrieval_data)
        sim = self.images(images) @ self.texts(captions).T
        truth = np.arange(len(captions))
        i2t = float((sim.argmax(axis=1) == truth).mean())
        t2i = float((sim.argmax(axis=0) == truth).mean())
        return {"image_to_text_r1": i2t, "text_to_image_r1": t2i, "mean_r1": (i2t + t2i) / 2}

    def run(self, task: Task) -> dict[str, float]:
        if task.kind == "clip_benchmark":
            return clipbench.evaluate(self, task)
        return self.zeroshot(task) if task.kind == "zeroshot" else self.retrieval(task)


def headline(task: Task, metrics: dict[str, float]) -> float:
    """The one number a task contributes to the table's mean (DataComp: its main metric, e.g. accuracy)."""
    if task.kind == "clip_benchmark":
        return clipbench.headline(task, metrics)
    return metrics["acc"] if task.kind == "zeroshot" else metrics["mean_r1"]
