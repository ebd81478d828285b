"""Stage-2 training throughput on GPUs: tokens/s/GPU and MFU, ZeRO-2 vs ZeRO-3, gradient checkpointing on/off.

GPU only (never run in CI). Model: CLIP ViT-L/14-336 (HF CLIP architecture) + a Qwen2.5-0.5B-shaped LM,
both with random weights built from their configs, so nothing is downloaded. Data: synthetic conversations
(one 336 px noise image + text) written with the curation writer. Every configuration runs through
`train launch` exactly as a user would, and the numbers come from the run's metrics.jsonl.

    python benchmarks/train_throughput.py --num-gpus 8 --steps 30 --out benchmarks/results/train_throughput.json
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
from PIL import Image

from curation.io.shards import write_table_shards
from curation.rows import CONVERSATION

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "training" / "configs" / "llava_instruct.yaml"
# Qwen2.5-0.5B-Instruct's architecture (config.json of the hub checkpoint)
QWEN_05B = dict(
    vocab_size=151936,
    hidden_size=896,
    intermediate_size=4864,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    max_position_embeddings=32768,
    rope_theta=1000000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=True,
)
# openai/clip-vit-large-patch14-336's vision tower (config.json of the hub checkpoint)
VIT_L14_336 = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "image_size": 336,
    "patch_size": 14,
    "projection_dim": 768,
}
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0}  # dense, per GPU


def build_lm_dir(out: Path) -> None:
    """A random-weights LM directory (config + offline tokenizer); `lm.random_init` builds it from config."""
    from transformers import Qwen2Config

    from training.toy import build_tokenizer

    build_tokenizer(out, vocab_size=2048)
    Qwen2Config(**QWEN_05B).save_pretrained(str(out))


def build_vision_dir(out: Path) -> None:
    """A random-weights HF CLIP ViT-L/14-336 directory (config + image processor) for `vision.random_init`."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig

    CLIPVisionConfig(**VIT_L14_336).save_pretrained(str(out))
    side = VIT_L14_336["image_size"]
    crop = {"height": side, "width": side}
    CLIPImageProcessor(size={"shortest_edge": side}, crop_size=crop).save_pretrained(str(out))


def build_data(out: Path, rows: int, words: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    vocab = [
        "the",
        "a",
        "photo",
        "of",
        "red",
        "blue",
        "green",
        "square",
        "circle",
        "man",
        "dog",
        "beach",
        "ocean",
        "kitchen",
        "table",
        "car",
        "street",
    ]
    images, messages = [], []
    for _ in range(rows):
        pixels = rng.integers(0, 255, size=(336, 336, 3), dtype=np.uint8)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
        images.append([buf.getvalue()])
        answer = " ".join(rng.choice(vocab, size=words))
        messages.append(
            [
                {"role": "user", "content": "<image>\ndescribe the picture"},
                {"role": "assistant", "content": answer},
            ]
        )
    table = pa.Table.from_pydict(
        {"id": [str(i) for i in range(rows)], "images": images, "messages": messages}, schema=CONVERSATION
    )
    write_table_shards(table, out, shard_rows=512)


def model_flops(tokens_per_s: float, samples_per_s: float, seq_len: float) -> float:
    """Model FLOP/s (no recomputation counted): 6N per LM token + attention, 2N per ViT patch (frozen tower
    runs forward only), 6N per projected patch."""
    h, layers, inter = QWEN_05B["hidden_size"], QWEN_05B["num_hidden_layers"], QWEN_05B["intermediate_size"]
    kv = h // QWEN_05B["num_attention_heads"] * QWEN_05B["num_key_value_heads"]
    lm_params = layers * (2 * h * h + 2 * h * kv + 3 * h * inter) + QWEN_05B["vocab_size"] * h
    lm = tokens_per_s * (6 * lm_params + 12 * layers * h * seq_len)
    vit_params, vit_tokens = 303_966_976, 577  # ViT-L/14-336 visual tower
    vision = samples_per_s * 2 * vit_params * vit_tokens
    projector = samples_per_s * 576 * 6 * (1024 * h + h * h)
    return lm + vision + projector


def gpu_info() -> tuple[int, str]:
    import torch

    if not torch.cuda.is_available():
        sys.exit("train_throughput.py needs GPUs")
    return torch.cuda.device_count(), torch.cuda.get_device_name(0)


def run_one(work: Path, data: Path, lm: Path, gpus: int, zero: int, ckpt: bool, args) -> dict:
    name = f"z{zero}_ckpt{int(ckpt)}"
    out = work / "runs" / name
    overrides = [
        f"output_dir={out}",
        f"model.vision={{source: hf, name: {work / 'vision'}, layer: -2, random_init: true}}",
        "model.projector.checkpoint=null",
        f"model.lm.name={lm}",
        "model.lm.random_init=true",
        f"model.max_length={args.seq_len}",
        f"train.max_steps={args.steps}",
        f"train.micro_batch_size={args.micro_batch}",
        "train.warmup_ratio=0.0",
        f"train.gradient_checkpointing={str(ckpt).lower()}",
        f"deepspeed.zero_stage={zero}",
        f"data.sources=[{{path: {data}}}]",
        "data.eval.sources=[]",
        f"checkpoint.every={args.steps * 10}",
        "logging.every=1",
    ]
    cmd = [sys.executable, "-m", "training.cli", "launch", str(CONFIG), "--num-gpus", str(gpus), *overrides]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        return {"config": name, "error": proc.stderr[-2000:] or proc.stdout[-2000:]}
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r["split"] == "train" and r["step"] > args.warmup_steps]
    tokens = statistics.median(r["tokens_per_s"] for r in rows)
    samples = statistics.median(r["samples_per_s"] for r in rows)
    seq = tokens / max(samples, 1e-9)
    return {
        "config": name,
        "zero_stage": zero,
        "gradient_checkpointing": ckpt,
        "tokens_per_s_per_gpu": tokens / gpus,
        "samples_per_s_per_gpu": samples / gpus,
        "mean_seq_len": seq,
        "model_tflops_per_gpu": model_flops(tokens, samples, seq) / gpus / 1e12,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-gpus", type=int, default=None)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup-steps", type=int, default=5, help="steps left out of the medians")
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--answer-words", type=int, default=400)
    parser.add_argument(
        "--peak-tflops", type=float, default=None, help="bf16 dense peak per GPU (default: by name)"
    )
    parser.add_argument("--timeout", type=int, default=3600)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "train_throughput.json")
    args = parser.parse_args()
    count, device = gpu_info()
    gpus = args.num_gpus or count
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in device), None)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_lm_dir(work / "lm")
        build_vision_dir(work / "vision")
        rows = gpus * args.micro_batch * (args.steps + 2)
        build_data(work / "data", rows, args.answer_words)
        results = []
        for zero, ckpt in itertools.product((2, 3), (False, True)):
            result = run_one(work, work / "data", work / "lm", gpus, zero, ckpt, args)
            if peak and "model_tflops_per_gpu" in result:
                result["mfu"] = result["model_tflops_per_gpu"] / peak
            results.append(result)
            print(json.dumps(result), flush=True)
    report = {
        "device": device,
        "gpus": gpus,
        "peak_bf16_tflops": peak,
        "args": vars(args) | {"out": str(args.out)},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print("| config | tokens/s/GPU | samples/s/GPU | TFLOP/s/GPU | MFU |")
    print("|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['config']} | failed | | | |")
        else:
            mfu = f"{100 * r['mfu']:.1f}%" if "mfu" in r else "n/a"
            print(
                f"| {r['config']} | {r['tokens_per_s_per_gpu']:.0f} | {r['samples_per_s_per_gpu']:.1f} | {r['model_tflops_per_gpu']:.1f} | {mfu} |"
            )


if __name__ == "__main__":
    main()
