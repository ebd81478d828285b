"""Tiny offline model assets (tokenizer, causal LM, open_clip and HF CLIP encoders) for tests and smoke runs.

Everything is built locally with random weights and saved in the on-disk formats of the real checkpoints,
so the trainer loads them by path through the same code that loads `Qwen/Qwen2.5-0.5B-Instruct` or
`ViT-L-14-336`/`openai`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_CORPUS = [
    "a photo of a red square on a white background",
    "a blue circle next to a green triangle",
    "what color is the square in the image?",
    "the answer is red. the answer is blue. the answer is green.",
    "a man riding a horse on a beach near the ocean",
    "two people standing in a kitchen with a dog",
    "describe the picture in one sentence please",
    "system user assistant you are a helpful assistant",
]


def build_tokenizer(out_dir: str | Path, vocab_size: int = 384, corpus: list[str] | None = None):
    """Train a byte-level BPE tokenizer with a ChatML chat template and save it with `save_pretrained`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator((corpus or _CORPUS) * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(str(out_dir))
    return fast


def build_lm(
    out_dir: str | Path, vocab_size: int, hidden: int = 32, layers: int = 2, seed: int = 0, tied: bool = False
) -> None:
    """Save a tiny random Qwen2 causal LM (with `save_pretrained`); `tied` shares input and output embeddings
    as Qwen2.5-0.5B does."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=tied,
    )
    torch.manual_seed(seed)
    AutoModelForCausalLM.from_config(config).save_pretrained(str(out_dir))


def build_open_clip(
    out_dir: str | Path, image_size: int = 32, patch: int = 16, width: int = 32, seed: int = 0
) -> None:
    """Save a tiny random open_clip ViT as a `local-dir:` model (open_clip_config.json + safetensors)."""
    import open_clip
    from safetensors.torch import save_file

    model_cfg = {
        "embed_dim": 16,
        "vision_cfg": {
            "image_size": image_size,
            "layers": 2,
            "width": width,
            "patch_size": patch,
            "head_width": 16,
        },
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 1, "layers": 1},
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {"size": image_size}}, indent=2)
    )
    torch.manual_seed(seed)
    model = open_clip.CLIP(**model_cfg)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(out_dir / "open_clip_model.safetensors"),
    )


def build_hf_clip(out_dir: str | Path, image_size: int = 32, patch: int = 16, seed: int = 0) -> None:
    """Save a tiny random HF CLIP vision model and its image processor."""
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=image_size,
        patch_size=patch,
    )
    torch.manual_seed(seed)
    CLIPVisionModel(config).save_pretrained(str(out_dir))
    size = {"shortest_edge": image_size}
    crop = {"height": image_size, "width": image_size}
    CLIPImageProcessor(size=size, crop_size=crop).save_pretrained(str(out_dir))


def build_toy_models(root: str | Path) -> dict[str, str]:
    """Build tokenizer+LM (`lm/`), open_clip (`open_clip/`) and HF CLIP (`hf_clip/`) under `root`."""
    root = Path(root)
    tokenizer = build_tokenizer(root / "lm")
    build_lm(root / "lm", vocab_size=len(tokenizer))
    build_open_clip(root / "open_clip")
    build_hf_clip(root / "hf_clip")
    return {"lm": str(root / "lm"), "open_clip": str(root / "open_clip"), "hf_clip": str(root / "hf_clip")}


def main() -> None:
    """`python -m training.toy DIR`: build the tiny models the `tiny_*.yaml` configs expect (as `toy/`)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m training.toy", description=main.__doc__)
    parser.add_argument("out_dir", nargs="?", default="toy")
    for name, path in build_toy_models(parser.parse_args().out_dir).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
