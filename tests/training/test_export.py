"""Export: the `vlm.json` layout reloads as the same model, and HF-CLIP models also load as HF LLaVA."""

from __future__ import annotations

import torch
from PIL import Image

from training.config import (
    Config,
    DataConfig,
    LMConfig,
    ModelConfig,
    ProjectorConfig,
    SourceConfig,
    VisionConfig,
)
from training.data.prompting import PromptEncoder
from training.export import export_model
from training.model.build import build_vlm

MESSAGES = [
    {"role": "user", "content": "<image>\nwhat color is the square?"},
    {"role": "assistant", "content": "the answer is red."},
]


def test_export_reloads_and_loads_as_hf_llava(workdir, tmp_path):
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    toy = workdir / "toy"
    model_cfg = ModelConfig(
        vision=VisionConfig(source="hf", name=str(toy / "hf_clip"), layer=-2),
        projector=ProjectorConfig(type="mlp2x_gelu"),
        lm=LMConfig(name=str(toy / "lm")),
    )
    cfg = Config(stage="instruct", model=model_cfg, data=DataConfig(sources=[SourceConfig(path="unused")]))
    model, tokenizer = build_vlm(model_cfg, seed=3)
    model.eval()
    export_model(model, tokenizer, cfg, tmp_path / "out")

    image = Image.new("RGB", (40, 40), (200, 10, 10))
    enc = PromptEncoder(tokenizer, model.vision.num_patches, 512).encode(MESSAGES, 1)
    ids = torch.tensor([enc.input_ids])
    pixels = model.vision.preprocess(image).unsqueeze(0)
    with torch.no_grad():
        ours = model(ids, torch.ones_like(ids), pixels)

    reloaded, _ = build_vlm(ModelConfig(init_from=str(tmp_path / "out")), seed=99)
    with torch.no_grad():
        assert torch.equal(reloaded.eval()(ids, torch.ones_like(ids), pixels), ours)

    llava = LlavaForConditionalGeneration.from_pretrained(str(tmp_path / "out" / "llava")).eval()
    processor = AutoProcessor.from_pretrained(str(tmp_path / "out" / "llava"))
    inputs = processor(
        images=image, text=tokenizer.apply_chat_template(MESSAGES, tokenize=False), return_tensors="pt"
    )
    assert int((inputs["input_ids"] == llava.config.image_token_index).sum()) == model.vision.num_patches
    with torch.no_grad():
        theirs = llava(**inputs).logits
    assert theirs.shape[1] == ours.shape[1]
    assert torch.allclose(theirs[..., : ours.shape[-1]], ours, atol=1e-5)
