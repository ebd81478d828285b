"""One-command GPU check: CLIP scoring, SemDeDup k-means and stage-2 training throughput, one JSON out.

    python benchmarks/gpu_check.py --out benchmarks/results/gpu_check.json      # one GPU, < 8 min on an H100
    python benchmarks/gpu_check.py --tiny --out /tmp/gpu_check.json            # CPU, tiny shapes (CI, < 2 min)

All models have random weights built from their configs (nothing is downloaded); data is synthetic JPEGs and
conversations written with the curation writer. Sections:
- `clip`: images/s of open_clip ViT-B/32 and ViT-L/14 scoring image-caption pairs, (a) through the `clip_score`
  op exactly as a pipeline segment calls it (decode + preprocess + both towers, one process), and (b) with a
  DataLoader decoding and preprocessing in worker processes and the towers in bf16 autocast (the loader-fed
  ceiling). Target: ViT-B/32 >= 5,000 images/s on one H100.
- `kmeans`: SemDeDup's spherical k-means (cosine assignment, normalised centroids) in torch on the GPU: seconds per
  Lloyd iteration over N embeddings, and the objective before/after.
- `train`: stage 2 through `train launch` (1 rank): a Qwen2.5-0.5B-shaped LM + HF CLIP ViT-L/14-336 tower, bf16,
  gradient checkpointing, ZeRO-2; tokens/s from the run's metrics.jsonl (after warm-up steps) and MFU against the
  GPU's dense bf16 peak. Target: MFU >= 40 %.
Each section records its error instead of stopping the others.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # sibling benchmark modules
sys.path.insert(1, str(REPO))  # tests.cli_process

from train_throughput import (  # noqa: E402
    PEAK_BF16_TFLOPS,
    build_data,
    build_lm_dir,
    build_vision_dir,
    model_flops,
)

from tests.cli_process import communicate_or_kill  # noqa: E402

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
SHAPES = {
    "full": {
        "clip_models": ["ViT-B-32", "ViT-L-14"],
        "clip_images": 4096,
        "clip_batch": 256,
        "image_side": 256,
        "kmeans": (200_000, 768, 1000, 10),  # embeddings, dim, clusters, iterations
        "train_steps": 14,
        "train_warmup": 4,
        "micro_batch": 8,
        "seq_len": 2048,
        "answer_words": 700,
    },
    "tiny": {
        "clip_models": ["tiny"],
        "clip_images": 16,
        "clip_batch": 8,
        "image_side": 64,
        "kmeans": (2000, 32, 8, 5),
        "train_steps": 3,
        "train_warmup": 1,
        "micro_batch": 2,
        "seq_len": 128,
        "answer_words": 20,
    },
}


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def jpegs(n: int, side: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
        out.append(buf.getvalue())
    return out


def clip_folder(name: str, root: Path) -> Path:
    """A local open_clip folder (config + random weights) for a registry architecture or the tiny one."""
    import open_clip
    from safetensors.torch import save_file

    cfg = TINY_CLIP if name == "tiny" else open_clip.get_model_config(name)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": cfg}))
    net = open_clip.CLIP(**cfg)
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "open_clip_model.safetensors")
    )
    return folder


class DecodedImages(torch.utils.data.Dataset):
    def __init__(self, blobs: list[bytes], preprocess) -> None:
        self.blobs, self.preprocess = blobs, preprocess

    def __len__(self) -> int:
        return len(self.blobs)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(io.BytesIO(self.blobs[i])) as image:
            return self.preprocess(image.convert("RGB"))


def clip_op_rate(folder: Path, blobs: list[bytes], batch: int) -> float:
    """Images/s of the `clip_score` op's evaluate on a table of the images (as a segment runs it)."""
    from curation.ops.clip import ClipScore

    op = ClipScore(model=str(folder), pretrained=None, batch_size=batch)
    op.setup()
    table = pa.table({"image": pa.array(blobs, pa.binary()), "caption": ["a photo of a dog"] * len(blobs)})
    op.evaluate(table.slice(0, min(batch, len(blobs))))  # warm-up (kernels, allocator)
    sync()
    start = time.perf_counter()
    for offset in range(0, len(blobs), 1024):
        op.evaluate(table.slice(offset, 1024))
    sync()
    return len(blobs) / (time.perf_counter() - start)


def clip_loader_rate(folder: Path, blobs: list[bytes], batch: int, workers: int) -> float:
    """Images/s with decode + preprocess in DataLoader workers and both towers under bf16 autocast."""
    import open_clip

    net, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    net = net.to(device()).eval()
    tokens = tokenizer(["a photo of a dog"] * batch).to(device())
    dataset = DecodedImages(blobs, preprocess)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch,
        num_workers=workers,
        pin_memory=device() == "cuda",
        persistent_workers=False,
    )
    autocast = torch.autocast(device(), dtype=torch.bfloat16, enabled=device() == "cuda")

    def score(pixels: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast:
            img = torch.nn.functional.normalize(
                net.encode_image(pixels.to(device(), non_blocking=True)), dim=-1
            )
            txt = torch.nn.functional.normalize(net.encode_text(tokens[: pixels.shape[0]]), dim=-1)
            return (img * txt).sum(-1).float().cpu()

    score(torch.stack([dataset[i] for i in range(min(2, len(blobs)))]))  # warm-up
    sync()
    start = time.perf_counter()
    seen = sum(score(pixels).shape[0] for pixels in loader)
    sync()
    return seen / (time.perf_counter() - start)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def check_clip(shape: dict, work: Path) -> dict:
    blobs = jpegs(shape["clip_images"], shape["image_side"])
    workers = min(8, os.cpu_count() or 1) if device() == "cuda" else 1
    out = {}
    for name in shape["clip_models"]:
        folder = clip_folder(name, work / "clip")
        out[name] = {
            "op_images_per_s": clip_op_rate(folder, blobs, shape["clip_batch"]),
            "loader_images_per_s": clip_loader_rate(folder, blobs, shape["clip_batch"], workers),
            "loader_workers": workers,
            "images": len(blobs),
            "jpeg_side": shape["image_side"],
        }
    return out


def spherical_kmeans(
    x: torch.Tensor, k: int, iterations: int, seed: int = 0
) -> tuple[torch.Tensor, list[float]]:
    """SemDeDup's clustering: cosine assignment to normalised centroids; returns centroids and the mean cosine
    similarity to the assigned centroid after each iteration (it never decreases)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    centroids = x[torch.randperm(x.shape[0], generator=gen)[:k].to(x.device)].clone()
    history = []
    for _ in range(iterations):
        sims = x @ centroids.T
        best, assign = sims.max(dim=1)
        history.append(float(best.float().mean()))
        sums = torch.zeros_like(centroids, dtype=torch.float32).index_add_(0, assign, x.float())
        empty = sums.norm(dim=1) == 0
        sums[empty] = centroids[empty].float()
        centroids = torch.nn.functional.normalize(sums, dim=1).to(x.dtype)
    return centroids, history


def check_kmeans(shape: dict) -> dict:
    n, dim, k, iterations = shape["kmeans"]
    dtype = torch.float16 if device() == "cuda" else torch.float32
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(n, dim, generator=gen), dim=1).to(device(), dtype)
    spherical_kmeans(x[: min(n, 10 * k)], k, 1)  # warm-up
    sync()
    start = time.perf_counter()
    _, history = spherical_kmeans(x, k, iterations)
    sync()
    seconds = time.perf_counter() - start
    return {
        "embeddings": n,
        "dim": dim,
        "clusters": k,
        "iterations": iterations,
        "seconds_per_iteration": seconds / iterations,
        "mean_cosine_first_last": [history[0], history[-1]],
    }


def train_assets(work: Path, tiny: bool) -> tuple[Path, Path]:
    """(LM folder, vision folder): config-only folders that `random_init` builds from."""
    from transformers import Qwen2Config

    from training.toy import build_hf_clip, build_tokenizer

    lm, vision = work / "lm", work / "vision"
    if not tiny:
        build_lm_dir(lm)
        build_vision_dir(vision)
        return lm, vision
    build_tokenizer(lm)
    shape = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    Qwen2Config(vocab_size=512, num_key_value_heads=1, tie_word_embeddings=True, **shape).save_pretrained(
        str(lm)
    )
    build_hf_clip(vision)
    return lm, vision


def check_train(shape: dict, work: Path, tiny: bool, peak_tflops: float | None, timeout: int) -> dict:
    lm, vision = train_assets(work, tiny)
    data = work / "conversations"
    steps, micro = shape["train_steps"], shape["micro_batch"]
    build_data(data, rows=micro * (steps + 2), words=shape["answer_words"])
    out = work / "run"
    overrides = [
        f"output_dir={out}",
        f"model.vision={{source: hf, name: {vision}, layer: -2, random_init: true}}",
        "model.projector.checkpoint=null",
        f"model.lm={{name: {lm}, random_init: true}}",
        f"model.max_length={shape['seq_len']}",
        f"train.max_steps={steps}",
        f"train.micro_batch_size={micro}",
        "train.warmup_ratio=0.0",
        "train.gradient_checkpointing=true",
        "deepspeed.zero_stage=2",
        f"deepspeed.precision={'fp32' if tiny else 'bf16'}",
        f"data.sources=[{{path: {data}}}]",
        "data.eval.sources=[]",
        "data.num_workers=2",
        f"checkpoint.every={steps * 10}",
        "logging.every=1",
        "logging.tensorboard=false",
    ]
    config = REPO / "training" / "configs" / "llava_instruct.yaml"
    cmd = [sys.executable, "-m", "training.cli", "launch", str(config), "--num-gpus", "1", *overrides]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    started = time.perf_counter()
    # a session of its own, so a timeout stops the launcher and its ranks too
    with subprocess.Popen(
        cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as proc:
        output, _ = communicate_or_kill(proc, timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"train launch failed ({proc.returncode}): {output[-3000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = [r for r in rows if r["split"] == "train" and r["step"] > shape["train_warmup"]]
    tokens = statistics.median(r["tokens_per_s"] for r in timed)
    samples = statistics.median(r["samples_per_s"] for r in timed)
    result = {
        "steps": steps,
        "timed_steps": len(timed),
        "micro_batch": micro,
        "mean_seq_len": tokens / max(samples, 1e-9),
        "tokens_per_s": tokens,
        "samples_per_s": samples,
        "final_loss": rows[-1]["loss"],
        "launch_seconds": time.perf_counter() - started,
    }
    if not tiny:
        result["model_tflops"] = model_flops(tokens, samples, result["mean_seq_len"]) / 1e12
        if peak_tflops:
            result["mfu"] = result["model_tflops"] / peak_tflops
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shapes on CPU (CI smoke run)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu_check.json")
    parser.add_argument("--sections", default="clip,kmeans,train")
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="dense bf16 peak (default: by GPU name)"
    )
    parser.add_argument("--train-timeout", type=int, default=330)
    args = parser.parse_args(argv)
    if not args.tiny and not torch.cuda.is_available():
        parser.error("no GPU visible; use --tiny for the CPU smoke run")
    shape = SHAPES["tiny" if args.tiny else "full"]
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    report: dict = {"device": name, "tiny": args.tiny, "peak_bf16_tflops": peak, "sections": {}}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for section in args.sections.split(","):
            t0 = time.perf_counter()
            try:
                if section == "clip":
                    result = check_clip(shape, work)
                elif section == "kmeans":
                    result = check_kmeans(shape)
                elif section == "train":
                    result = check_train(shape, work, args.tiny, peak, args.train_timeout)
                else:
                    raise ValueError(f"unknown section {section!r}")
            except Exception as exc:  # one failing section must not lose the others' figures
                result = {"error": f"{type(exc).__name__}: {exc}"}
            result["section_seconds"] = time.perf_counter() - t0
            report["sections"][section] = result
            print(json.dumps({section: result}), flush=True)
    report["total_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
