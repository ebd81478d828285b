"""Image throughput: our guarded decode + size/aspect + pHash against a naive baseline, and CLIP scoring on CPU.

    python benchmarks/image_throughput.py [--pool PARQUET] [--repeat 3] [--clip-model ViT-B-32] [--clip-images 64]

The baseline is what a script would do per image: a full PIL decode and `imagehash.phash`, then the size check.
Ours is the `image_decode` + `size_filter` ops on the same bytes in the same process (JPEG draft decoding).
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


def naive(images: list[bytes]) -> int:
    import imagehash
    from PIL import Image

    kept = 0
    for data in images:
        img = Image.open(io.BytesIO(data)).convert("RGB")
        imagehash.phash(img)
        w, h = img.size
        kept += min(w, h) >= 200 and max(w, h) / min(w, h) <= 3
    return kept


def ours(images: list[bytes]) -> int:
    from curation.ops.image import ImageDecode, SizeFilter

    decoded = ImageDecode().map(pa.table({"image": pa.array(images, pa.binary())}))
    marks = SizeFilter().evaluate(decoded).column("_drop")
    return marks.null_count


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
    naive(images[:8]), ours(images[:8])  # imports and first-call costs stay out of the timings
    result: dict = {"images": len(images), "large_images": len(large)}
    for subset, blobs in (("all", images), ("large", large)):
        for name, fn in (("naive", naive), ("ours", ours)):
            times, kept = [], 0
            for _ in range(args.repeat):
                start = time.perf_counter()
                kept = fn(blobs)
                times.append(time.perf_counter() - start)
            seconds = statistics.median(times)
            result[f"{subset}_{name}"] = {
                "kept": int(kept),
                "seconds": seconds,
                "images_per_s": len(blobs) / seconds,
            }
        speedup = result[f"{subset}_ours"]["images_per_s"] / result[f"{subset}_naive"]["images_per_s"]
        result[f"{subset}_speedup"] = speedup
    rate, threads = clip_rate(images[: args.clip_images], args.clip_model)
    result["clip"] = {"model": args.clip_model, "images_per_s": rate, "torch_threads": threads}
    print("| images | pipeline | n | kept | median s | images/s (1 core) |\n|---|---|---|---|---|---|")
    for subset, n in (("all", len(images)), ("large", len(large))):
        for name in ("naive", "ours"):
            r = result[f"{subset}_{name}"]
            print(f"| {subset} | {name} | {n} | {r['kept']} | {r['seconds']:.2f} | {r['images_per_s']:.0f} |")
        print(f"| {subset} | speed-up | | | | {result[f'{subset}_speedup']:.2f}x |")
    print(f"clip_score {args.clip_model} (random weights, CPU, {threads} threads): {rate:.1f} images/s")
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
