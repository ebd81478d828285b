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
from training.model.lm import load_tokenizer

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


# Runs in a bare interpreter: this repository's packages cannot be imported, only transformers & co.
PLAIN_LOAD = r"""
import sys, json, torch
from PIL import Image

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("training", "curation"):
            raise ImportError(f"{name} must not be needed to load the export")

sys.meta_path.insert(0, Block())
from transformers import AutoProcessor, LlavaForConditionalGeneration

folder, out = sys.argv[1], sys.argv[2]
model = LlavaForConditionalGeneration.from_pretrained(folder).eval()
processor = AutoProcessor.from_pretrained(folder)
messages = [
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what color is the square?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "the answer is red."}]},
]
text = processor.apply_chat_template(messages)
inputs = processor(images=Image.new("RGB", (40, 40), (200, 10, 10)), text=text, return_tensors="pt")
with torch.no_grad():
    logits = model(**inputs).logits
torch.save({"text": text, "logits": logits, "image_id": model.config.image_token_index,
            "ids": inputs["input_ids"]}, out)
"""


def test_shipped_llava_architecture_exports_to_plain_transformers(workdir, tmp_path):
    """The llava recipes' architecture (HF CLIP tower, layer -2, mlp2x_gelu, a tied-embedding Qwen2 LM), built
    tiny: its export loads with plain transformers from a moved copy, renders image content parts through its
    chat template, and gives the project's logits."""
    import shutil
    import subprocess
    import sys

    import yaml

    from training.toy import build_lm

    from .conftest import CONFIGS

    shipped = yaml.safe_load((CONFIGS / "llava_instruct.yaml").read_text())["model"]
    assert shipped["vision"]["source"] == "hf" and shipped["projector"]["type"] == "mlp2x_gelu"
    toy = workdir / "toy"
    lm_dir = tmp_path / "tied_lm"
    shutil.copytree(toy / "lm", lm_dir)
    build_lm(lm_dir, vocab_size=len(load_tokenizer(str(toy / "lm"))), tied=True)
    model_cfg = ModelConfig(
        vision=VisionConfig(source="hf", name=str(toy / "hf_clip"), layer=shipped["vision"]["layer"]),
        projector=ProjectorConfig(type=shipped["projector"]["type"]),
        lm=LMConfig(name=str(lm_dir)),
    )
    cfg = Config(stage="instruct", model=model_cfg, data=DataConfig(sources=[SourceConfig(path="unused")]))
    model, tokenizer = build_vlm(model_cfg, seed=5)
    model.eval()
    export_model(model, tokenizer, cfg, tmp_path / "out")
    moved = tmp_path / "elsewhere" / "export"
    shutil.move(tmp_path / "out", moved)  # self-contained: nothing points back at the source folders
    shutil.rmtree(lm_dir)
    result = tmp_path / "plain.pt"
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-I", "-c", PLAIN_LOAD, str(moved / "llava"), str(result)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    plain = torch.load(result)
    assert plain["text"] == tokenizer.apply_chat_template(MESSAGES, tokenize=False)
    assert int((plain["ids"] == plain["image_id"]).sum()) == model.vision.num_patches

    enc = PromptEncoder(tokenizer, model.vision.num_patches, 512).encode(MESSAGES, 1)
    ids = torch.tensor([enc.input_ids])
    pixels = model.vision.preprocess(Image.new("RGB", (40, 40), (200, 10, 10))).unsqueeze(0)
    with torch.no_grad():
        ours = model(ids, torch.ones_like(ids), pixels)
    theirs = plain["logits"]
    assert theirs.shape[1] == ours.shape[1]
    assert torch.allclose(theirs[..., : ours.shape[-1]], ours, atol=1e-5)
    # the added <image> output row is the mean of the trained rows, not random
    from safetensors.torch import load_file

    weights = load_file(str(next((moved / "llava").glob("*.safetensors"))))
    head = next(v for k, v in weights.items() if k.endswith("embed_tokens.weight"))
    assert torch.allclose(head[plain["image_id"]], head[: plain["image_id"]].mean(0), atol=1e-6)
    reloaded, _ = build_vlm(ModelConfig(init_from=str(moved)), seed=99)
    with torch.no_grad():
        assert torch.equal(reloaded.eval()(ids, torch.ones_like(ids), pixels), ours)


def test_train_export_refuses_a_target_in_the_way_before_loading(tmp_path, capsys):
    """A non-empty folder or a file in the path is refused before the checkpoint loads (`run` is no run here:
    the target is checked first), and nothing in the folder changes."""
    from training.cli import main

    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["export", str(tmp_path / "run"), str(afile)]) == 2
    assert f"{afile} is a file" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "run"), str(afile / "out")]) == 2
    assert f"{afile} is a file, not a folder" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert main(["export", str(tmp_path / "run"), str(busy)]) == 2
    assert "is not empty: pass --overwrite" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "run"), str(busy), "--overwrite"]) == 2
    assert "holds files that are not an earlier export (notes.txt)" in capsys.readouterr().err
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]


def test_train_export_overwrite_keeps_the_earlier_export_when_the_new_one_fails(tmp_path, capsys):
    from training.cli import main

    earlier = tmp_path / "export"
    (earlier / "lm").mkdir(parents=True)
    (earlier / "lm" / "config.json").write_text("{}")
    (earlier / "vlm.json").write_text("{}")
    assert main(["export", str(tmp_path / "no_run"), str(earlier), "--overwrite"]) == 2
    assert "config.yaml" in capsys.readouterr().err  # the run's error, after the target was accepted
    assert (earlier / "lm" / "config.json").is_file() and (earlier / "vlm.json").is_file()


def test_train_export_takes_only_a_complete_checkpoint_of_a_run(tmp_path, capsys):
    """A checkpoint a killed run left half-written (no COMPLETE marker) was exported as if whole; a folder that
    is no run said only `No such file or directory: .../config.yaml`."""
    from curation.io.shards import write_table_shards
    from training.checkpoint import COMPLETE
    from training.cli import main
    from training.config import load_config
    from training.export import save_run_config

    from .conftest import CONFIGS, conversation_table

    write_table_shards(conversation_table(2), tmp_path / "data")
    run = tmp_path / "run"
    cfg = load_config(
        CONFIGS / "tiny_align.yaml", [f"output_dir={run}", f"data.sources=[{{path: {tmp_path / 'data'}}}]"]
    )
    save_run_config(cfg, run)
    (run / "checkpoints" / "step-00000003").mkdir(parents=True)
    (run / "checkpoints" / "step-00000006").mkdir()
    (run / "checkpoints" / "step-00000003" / COMPLETE).write_text("3")
    assert main(["export", str(run), str(tmp_path / "out"), "--tag", "step-00000006"]) == 2
    assert (
        "step-00000006: not a complete checkpoint; complete ones: ['step-00000003']"
        in capsys.readouterr().err
    )
    assert main(["export", str(tmp_path / "data"), str(tmp_path / "out")]) == 2
    assert "data: not a training run (no config.yaml)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
