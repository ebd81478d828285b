"""Image throughput: our guarded decode + size/aspect + pHash against a naive baseline, and CLIP scoring on CPU.

    python benchmarks/image_throughput.py [--pool PARQUET] [--repeat 3] [--clip-model ViT-B-32] [--clip-images 64]

The baseline is what a script would do per image: a full PIL decode and `imagehash.phash`, then the size check.
Ours is the image ops of `pipelines/datacomp_basic.yaml` in recipe order (`image_probe`, `size_filter`,
`image_decode`), each applied by the runner's `apply_op` as in a segment, on the same bytes in the same process.
Both must keep the same rows.
CLIP: images/s of `clip_score` for a named open_clip architecture with random weights (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_POOL = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "images" / "pairs_sample.parquet"
)


RECIPE = Path(__file__).resolve().parents[1] / "pipelines" / "datacomp_basic.yaml"
IMAGE_COLUMNS = {"image", "width", "height"}


def naive(images: list[bytes]) -> list[int]:
    """Indices of the kept images."""
    import imagehash
    from PIL import Image

    kept = []
    for i, data in enumerate(images):
        img = Image.open(io.BytesIO(data)).convert("RGB")
        imagehash.phash(img)
        w, h = img.size
        if min(w, h) >= 200 and max(w, h) / min(w, h) <= 3:
            kept.append(i)
    return kept


def recipe_image_ops() -> list:
    """The row-local ops of the datacomp_basic recipe that need only the image columns, in recipe order."""
    from curation.ops.base import Filter, Mapper
    from curation.recipe import load_recipe

    ops = [(step.name, step.build()) for step in load_recipe(RECIPE).steps]
    return [
        (name, op)
        for name, op in ops
        if isinstance(op, (Mapper, Filter)) and set(op.requires) <= IMAGE_COLUMNS
    ]


def as_batch(images: list[bytes]) -> pa.Table:
    """The reader's view of the images: an Arrow batch (built outside the timings), with row numbers."""
    return pa.table({"image": pa.array(images, pa.binary()), "row": pa.array(range(len(images)))})


def ours(batch: pa.Table, ops: list) -> list[int]:
    """Indices of the images the recipe's image ops keep, run through the runner's `apply_op`."""
    from curation.runner.accounting import StepStats
    from curation.runner.executor import apply_op

    for name, op in ops:
        batch = apply_op(op, name, batch, StepStats(name, "segment"), None)
    return batch.column("row").to_pylist()


def clip_rate(images: list[bytes], model: str) -> float:
    """Images/s of the clip_score op with a random-weight `model` built from its open_clip config."""
    import tempfile

    import open_clip
    import torch
    from safetensors.torch import save_file

    from curation.ops.clip import ClipScore

    cfg = open_clip.get_model_config(model)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / model
        folder.mkdir()
        (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
        net = open_clip.CLIP(**cfg)
        save_file(
            {k: v.contiguous() for k, v in net.state_dict().items()},
            str(folder / "open_clip_model.safetensors"),
        )
        op = ClipScore(model=str(folder), pretrained=None, batch_size=32)
        op.setup()
        batch = pa.table({"image": pa.array(images, pa.binary()), "caption": ["a photo"] * len(images)})
        op.evaluate(batch.slice(0, 4))  # warm-up
        start = time.perf_counter()
        op.evaluate(batch)
        return len(images) / (time.perf_counter() - start), torch.get_num_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", default=str(DEFAULT_POOL))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clip-model", default="ViT-B-32")
    parser.add_argument("--clip-images", type=int, default=64)
    parser.add_argument("--out", default="/tmp/image_throughput.json")
    args = parser.parse_args()
    if not Path(args.pool).exists():
        raise SystemExit(f"skip: {args.pool} not found (../shared/data is not present)")
    pool = pq.read_table(args.pool, columns=["jpg", "width", "height"])
    images = pool.column("jpg").to_pylist()
    sizes = zip(pool.column("width").to_pylist(), pool.column("height").to_pylist(), strict=True)
    large = [b for b, (w, h) in zip(images, sizes, strict=True) if min(w, h) >= 400]
    ops = recipe_image_ops()
    naive(images[:8]), ours(as_batch(images[:8]), ops)  # imports and first-call costs stay out of the timings
    result: dict = {"images": len(images), "large_images": len(large), "ours_steps": [n for n, _ in ops]}
    for subset, blobs in (("all", images), ("large", large)):
        runs = {"naive": (naive, blobs), "ours": (lambda b: ours(b, ops), as_batch(blobs))}
        wall: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        kept_rows = {}
        for _ in range(args.repeat):  # interleaved, so both sides see the same machine load
            for name, (fn, arg) in runs.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                kept_rows[name] = fn(arg)
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
        if kept_rows["naive"] != kept_rows["ours"]:
            raise SystemExit(f"{subset}: naive and ours keep different images")
        for name in runs:
            seconds, cpu_seconds = statistics.median(wall[name]), statistics.median(cpu[name])
            result[f"{subset}_{name}"] = {
                "kept": len(kept_rows[name]),
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "images_per_s": len(blobs) / seconds,
                "images_per_cpu_s": len(blobs) / cpu_seconds,
            }
        result[f"{subset}_speedup"] = (
            result[f"{subset}_naive"]["seconds"] / result[f"{subset}_ours"]["seconds"]
        )
        result[f"{subset}_cpu_speedup"] = (
            result[f"{subset}_naive"]["cpu_seconds"] / result[f"{subset}_ours"]["cpu_seconds"]
        )
    rate, threads = clip_rate(images[: args.clip_images], args.clip_model)
    result["clip"] = {"model": args.clip_model, "images_per_s": rate, "torch_threads": threads}
    print(
        "| images | pipeline | n | kept | median wall s | images/s | median CPU s | images/CPU-s |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for subset, n in (("all", len(images)), ("large", len(large))):
        for name in ("naive", "ours"):
            r = result[f"{subset}_{name}"]
            print(
                f"| {subset} | {name} | {n} | {r['kept']} | {r['seconds']:.2f} | {r['images_per_s']:.0f} "
                f"| {r['cpu_seconds']:.2f} | {r['images_per_cpu_s']:.0f} |"
            )
        print(
            f"| {subset} | speed-up | | | | {result[f'{subset}_speedup']:.2f}x | "
            f"| {result[f'{subset}_cpu_speedup']:.2f}x |"
        )
    print(f"clip_score {args.clip_model} (random weights, CPU, {threads} threads): {rate:.1f} images/s")
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
