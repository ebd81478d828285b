"""Evaluation through the `clip_benchmark` package, and DataComp's 38-task suite expressed as its datasets.

A `clip_benchmark` task names one of clip_benchmark's datasets (`dataset`, e.g. `wds/vtab/cifar100` for its
WebDataset layout, or `cifar10`, `mnist`, ...) and where its data lies on this machine (`root`); the trained
model is evaluated by clip_benchmark's own zero-shot classification or retrieval code (`task`:
`zeroshot_classification`, the default, or `zeroshot_retrieval`). Nothing is downloaded: data that is not on
disk makes the task skipped with its reason.

`datacomp_tasks(root)` expands DataComp's evaluation suite (Gadre et al. 2023, `tasklist.yml` of
mlfoundations/datacomp) into such tasks, each reading `root/wds_<name, / as ->_test` (the layout DataComp's
`download_evalsets.py` writes) with DataComp's main metric per task.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from curation.bench.evaluate import Evaluator, Task

CLASSIFICATION, RETRIEVAL = "zeroshot_classification", "zeroshot_retrieval"

# DataComp's 38 scored tasks: name -> main metric (acc1 unless given). Retrieval tasks use clip_benchmark's
# WebDataset exports of the same test sets (DataComp itself reads them from Hugging Face).
_BY_RECALL = ("vtab/caltech101", "fgvc_aircraft", "vtab/flowers", "vtab/pets")
DATACOMP_CLASSIFICATION = (
    "vtab/caltech101", "cifar10", "vtab/cifar100", "vtab/clevr_count_all", "vtab/clevr_closest_object_distance",
    "country211", "vtab/dtd", "vtab/eurosat", "fgvc_aircraft", "food101", "gtsrb", "imagenet1k",
    "imagenet_sketch", "imagenetv2", "imagenet-a", "imagenet-o", "imagenet-r",
    "vtab/kitti_closest_vehicle_distance", "mnist", "objectnet", "vtab/flowers", "vtab/pets", "voc2007",
    "vtab/pcam", "renderedsst2", "vtab/resisc45", "cars", "stl10", "sun397", "vtab/svhn", "wilds/camelyon17",
)  # fmt: skip
DATACOMP_RETRIEVAL = ("flickr30k", "mscoco_captions")
# scored by DataComp's own evaluators (metadata-based metrics clip_benchmark does not compute)
DATACOMP_OWN_METRIC = {
    "misc/winogavil": "jaccard_score_10-12 (WinoGAViL association game)",
    "wilds/iwildcam": "F1-macro_all (WILDS evaluator)",
    "wilds/fmow": "acc_worst_region (WILDS evaluator)",
    "fairness/dollar_street": "acc_top5_wg (worst income group)",
    "fairness/geode": "acc_wg (worst region)",
}
DATACOMP_TASKS = DATACOMP_CLASSIFICATION + DATACOMP_RETRIEVAL + tuple(DATACOMP_OWN_METRIC)


def datacomp_tasks(root: str) -> list[tuple[str, str, dict[str, Any]]]:
    """DataComp's 38 tasks as (name, kind, params) items of a benchmark's task list."""
    out = []
    for name in DATACOMP_TASKS:
        params: dict[str, Any] = {"dataset": f"wds/{name}", "root": str(Path(root) / _folder(name))}
        if name in DATACOMP_RETRIEVAL:
            params |= {"task": RETRIEVAL, "metric": "mean_recall@1"}
        elif name in _BY_RECALL:
            params["metric"] = "mean_per_class_recall"
        if name in DATACOMP_OWN_METRIC:
            params["unsupported"] = (
                f"its main metric {DATACOMP_OWN_METRIC[name]} needs DataComp's own evaluator"
            )
        out.append((name, "clip_benchmark", params))
    return out


def _folder(name: str) -> str:
    return f"wds_{name.replace('/', '-')}_test"


def check(task: Task) -> None:
    """Raise TaskDataMissing / ValueError when the task cannot run here (before any training)."""
    from curation.bench.evaluate import TaskDataMissing, _need

    p = task.params
    if p.get("unsupported"):
        raise ValueError(f"task {task.name}: {p['unsupported']}")
    if not p.get("dataset"):
        raise ValueError(f"task {task.name}: clip_benchmark needs a dataset name")
    if p.get("task", CLASSIFICATION) not in (CLASSIFICATION, RETRIEVAL):
        raise ValueError(f"task {task.name}: task must be {CLASSIFICATION} or {RETRIEVAL}")
    root = _need(p.get("root"), task.name, "dataset root")
    if str(p["dataset"]).startswith("wds/"):
        _need(str(root / p.get("split", "test") / "nshards.txt"), task.name, "shard count")
    try:
        from clip_benchmark.datasets.builder import build_dataset
    except ImportError:
        raise TaskDataMissing(
            f"task {task.name}: clip_benchmark is not installed (pip install 'mmcurate[bench]')"
        ) from None
    if not str(p["dataset"]).startswith("wds/"):  # its other loaders find out only by opening the data
        try:
            build_dataset(
                p["dataset"],
                root=str(root),
                split=p.get("split", "test"),
                download=False,
                task=p.get("task", CLASSIFICATION),
            )
        except Exception as exc:  # noqa: BLE001 - any loader's failure means the data is not usable here
            raise TaskDataMissing(
                f"task {task.name}: clip_benchmark cannot open {p['dataset']} at {root}: {exc}"
            ) from None


def evaluate(evaluator: Evaluator, task: Task) -> dict[str, float]:
    """clip_benchmark's zero-shot classification or retrieval metrics for the evaluator's model."""
    import torch
    from clip_benchmark.datasets.builder import build_dataset, image_captions_collate_fn
    from clip_benchmark.metrics import zeroshot_retrieval

    p = task.params
    kind = p.get("task", CLASSIFICATION)
    dataset = build_dataset(
        p["dataset"],
        root=str(p["root"]),
        transform=evaluator.preprocess,
        split=p.get("split", "test"),
        download=False,
        task=kind,
    )
    batch = evaluator.batch_size
    collate = image_captions_collate_fn if kind == RETRIEVAL else None
    if hasattr(dataset, "batched"):  # a WebDataset pipeline batches itself
        loader = torch.utils.data.DataLoader(
            dataset.batched(batch, collation_fn=collate) if collate else dataset.batched(batch),
            batch_size=None,
        )
    else:
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch, collate_fn=collate)
    device = evaluator.device
    if kind == RETRIEVAL:
        m = zeroshot_retrieval.evaluate(
            evaluator.model, loader, evaluator.tokenizer, device, amp=False, recall_k_list=[1, 5]
        )
        m["mean_recall@1"] = (m["image_retrieval_recall@1"] + m["text_retrieval_recall@1"]) / 2
    else:
        m = _classification(evaluator, loader, dataset.classes, dataset.templates)
    return {k: float(v) for k, v in m.items() if not math.isnan(float(v))}


def _classification(evaluator: Evaluator, loader: Any, classnames: list, templates: Any) -> dict[str, float]:
    """clip_benchmark's class heads and logits; top-k from those logits (its `accuracy()` fails on numpy 2)."""
    from clip_benchmark.metrics import zeroshot_classification as zsc
    from sklearn.metrics import balanced_accuracy_score

    heads = zsc.zero_shot_classifier(
        evaluator.model, evaluator.tokenizer, classnames, templates, evaluator.device, amp=False
    )
    logits, target = zsc.run_classification(evaluator.model, heads, loader, evaluator.device, amp=False)
    if target.ndim == 2:  # multi-label (e.g. VOC 2007 multilabel): clip_benchmark's mean average precision
        return {"mean_average_precision": float(zsc.average_precision_per_class(logits, target).mean())}
    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
    hits = top == target[:, None]
    return {
        "acc1": float(hits[:, 0].double().mean()),
        "acc5": float(hits.any(dim=1).double().mean()) if logits.shape[1] >= 5 else math.nan,
        "mean_per_class_recall": float(balanced_accuracy_score(target.numpy(), logits.argmax(1).numpy())),
    }


def headline(task: Task, metrics: dict[str, float]) -> float:
    default = "mean_recall@1" if task.params.get("task") == RETRIEVAL else "acc1"
    return metrics[task.params.get("metric", default)]
