"""Memory-saving paths give the same numbers as the plain ones: chunked log-probs, and packed batches."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from training.config import LMConfig, ModelConfig, ProjectorConfig, VisionConfig
from training.data.collate import collate_sft
from training.data.prompting import PromptEncoder
from training.data.samples import SFTSample
from training.model.build import build_vlm

from .conftest import conversation_table


@pytest.fixture(scope="module")
def vlm(workdir):
    toy = workdir / "toy"
    cfg = ModelConfig(
        vision=VisionConfig(name=str(toy / "open_clip"), pretrained=None),
        projector=ProjectorConfig(type="mlp2x_gelu"),
        lm=LMConfig(name=str(toy / "lm")),
        attn_implementation="sdpa",
    )
    model, tokenizer = build_vlm(cfg, seed=0)
    return model, tokenizer


def samples(model, tokenizer, n: int) -> list[SFTSample]:
    encoder = PromptEncoder(tokenizer, model.vision.num_patches, 96)
    out = []
    for row in conversation_table(n).to_pylist():
        pixels = [model.vision.preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in row["images"]]
        out.append(SFTSample(encoder.encode(row["messages"], len(pixels)), pixels))
    return out


def test_chunked_logps_equal_full_logits(vlm):
    model, tokenizer = vlm
    batch = collate_sft(samples(model, tokenizer, 4), tokenizer.pad_token_id)
    args = (batch["input_ids"], batch["attention_mask"], batch["pixel_values"])
    logits = model(*args)
    labels = batch["labels"]
    logp = torch.log_softmax(logits[:, :-1].double(), -1).gather(-1, labels[:, 1:].clamp(min=0).unsqueeze(-1))
    expected = (logp.squeeze(-1) * (labels[:, 1:] != -100)).sum(-1)
    model.logp_chunk = 5  # many chunks, one of them partial
    got, counts = model(*args, labels=labels)
    assert counts.tolist() == (labels[:, 1:] != -100).sum(-1).tolist()
    assert torch.allclose(got.double(), expected, atol=1e-5, rtol=0)
    grads = []
    for chunk in (5, 10_000):  # gradients through the recomputed chunks equal those of one big chunk
        model.zero_grad()
        model.logp_chunk = chunk
        model(*args, labels=labels)[0].sum().backward()
        grads.append(model.projector[0].weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_packed_batch_gives_the_unpacked_loss(vlm):
    """Samples packed into shared rows see only themselves: per-token loss equals the padded batch's."""
    model, tokenizer = vlm
    items = samples(model, tokenizer, 6)
    padded = collate_sft(items, tokenizer.pad_token_id)
    packed = collate_sft(items, tokenizer.pad_token_id, pack_to=200)
    assert packed["input_ids"].shape[0] < padded["input_ids"].shape[0]  # several samples share a row
    assert packed["tokens"] == padded["tokens"]
    with torch.no_grad():
        results = [
            model(
                batch["input_ids"],
                batch["attention_mask"],
                batch["pixel_values"],
                labels=batch["labels"],
                position_ids=batch.get("position_ids"),
            )
            for batch in (padded, packed)
        ]
        # without the position restarts the rows attend across samples and the loss moves
        crossed, _ = model(packed["input_ids"], None, packed["pixel_values"], labels=packed["labels"])
    (a, na), (b, nb) = [(float(logp.sum()), int(counts.sum())) for logp, counts in results]
    assert na == nb
    assert abs(a - b) / na < 1e-5
    assert abs(float(crossed.sum()) - b) / nb > 1e-3


def test_qlora_quantises_only_the_lm_base(workdir, tmp_path):
    """QLoRA through bitsandbytes on CPU: the LM's linear layers are 4-bit NF4 with double quantisation and bf16
    compute, LoRA adapters stay in full precision and train, tower and projector are not quantised."""
    pytest.importorskip("bitsandbytes")
    import shutil

    from bitsandbytes.nn import Linear4bit

    from training.config import Config, DataConfig, LoraConfig, SourceConfig, TrainConfig
    from training.stages.instruct import InstructStage
    from training.toy import build_lm

    toy = workdir / "toy"
    lm_dir = tmp_path / "lm"
    shutil.copytree(toy / "lm", lm_dir)
    build_lm(lm_dir, vocab_size=384, hidden=128)  # bitsandbytes' CPU kernels need widths in 64-blocks
    model_cfg = ModelConfig(
        vision=VisionConfig(name=str(toy / "open_clip"), pretrained=None),
        lm=LMConfig(name=str(lm_dir), quantization="nf4"),
    )
    lora = LoraConfig(r=4, alpha=8, target_modules=["q_proj", "v_proj"])
    cfg = Config(
        stage="instruct",
        model=model_cfg,
        train=TrainConfig(lora=lora),
        data=DataConfig(sources=[SourceConfig(path="unused")]),
    )
    model, tokenizer = build_vlm(model_cfg)
    InstructStage(cfg, tokenizer.pad_token_id).configure(model)
    q_proj = model.lm.base_model.model.model.layers[0].self_attn.q_proj
    base = q_proj.base_layer
    assert isinstance(base, Linear4bit) and base.weight.quant_type == "nf4"
    assert base.weight.quant_state.nested and base.compute_dtype == torch.bfloat16  # double quantisation
    assert q_proj.lora_A["default"].weight.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.vision.parameters())
    assert all(p.dtype == torch.float32 and p.requires_grad for p in model.projector.parameters())
    batch = collate_sft(samples(model, tokenizer, 2), tokenizer.pad_token_id)
    logp, _ = model(
        batch["input_ids"], batch["attention_mask"], batch["pixel_values"], labels=batch["labels"]
    )
    logp.sum().backward()
    trained = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    # lora_B starts at zero, so at the first step only it (not lora_A) gets a gradient
    assert any("lora_B" in n for n in trained) and any(n.startswith("projector") for n in trained)
    assert not any(n.startswith("vision") or ("lora" not in n and n.startswith("lm")) for n in trained)
