"""Export to the HF LLaVA format (`LlavaForConditionalGeneration` + `LlavaProcessor`).

Possible when the encoder is an HF CLIP/SigLIP vision model and the projector is `mlp2x_gelu` (LLaVA-1.5's), as
in the shipped `llava_*.yaml` recipes; open_clip encoders have no HF LLaVA counterpart, so their exports stay in
the `vlm.json` layout only. The processor's chat template accepts OpenAI-style content parts
(`{"type": "image"}`, `{"type": "text", "text": ...}`) and renders them as the trainer's `<image>` tags.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

from training.data.prompting import IMAGE_TAG
from training.model.vision import HFVisionTower
from training.model.vlm import VLM

# Content parts -> the plain-string messages the LM's own template expects; the parts of one message are joined
# by newlines, so [image, text] renders as "<image>\n<text>", the layout the trainer's data uses.
PARTS_PRELUDE = (
    "{%- set parts_ns = namespace(messages=[]) -%}"
    "{%- for message in messages -%}"
    "{%- if message['content'] is string -%}"
    "{%- set parts_ns.messages = parts_ns.messages + [message] -%}"
    "{%- else -%}"
    "{%- set pieces = namespace(items=[]) -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}{%- set pieces.items = pieces.items + ['" + IMAGE_TAG + "'] -%}"
    "{%- elif part['type'] == 'text' -%}{%- set pieces.items = pieces.items + [part['text']] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- set parts_ns.messages = parts_ns.messages + "
    "[{'role': message['role'], 'content': pieces.items | join('\n')}] -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- set messages = parts_ns.messages -%}"
)


def parts_chat_template(template: str) -> str:
    """The LM's chat template, extended to accept image and text content parts."""
    return PARTS_PRELUDE + template


def llava_supported(model: VLM, projector_type: str) -> bool:
    return isinstance(model.vision, HFVisionTower) and projector_type == "mlp2x_gelu"


def export_llava(model: VLM, lm, tokenizer, projector_type: str, out_dir: Path) -> None:
    """Write `out_dir` as a LLaVA checkpoint that `LlavaForConditionalGeneration.from_pretrained` loads.

    `lm` is the plain (LoRA-merged) causal LM. The vision tower keeps only the blocks up to the chosen
    layer, so `vision_feature_layer=-1` selects exactly the features the model was trained on.
    """
    if not llava_supported(model, projector_type):
        raise ValueError("HF LLaVA export needs an HF CLIP/SigLIP encoder and the mlp2x_gelu projector")
    vision = model.vision.model
    is_clip = model.vision.prefix_tokens == 1
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TAG]})
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TAG)
    vision_config = copy.deepcopy(vision.config)
    vision_config.num_hidden_layers = model.vision.layer + 1
    text_config = copy.deepcopy(lm.config)
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=image_id,
        projector_hidden_act="gelu",
        vision_feature_layer=-1,
        vision_feature_select_strategy="default" if is_clip else "full",
        image_seq_length=model.vision.num_patches,
    )
    llava = LlavaForConditionalGeneration(config)
    missing, unexpected = llava.model.vision_tower.load_state_dict(vision.state_dict(), strict=False)
    if unexpected or any(not k.startswith("post_layernorm") and "head" not in k for k in missing):
        raise RuntimeError(f"vision tower mismatch: missing {missing}, unexpected {unexpected}")
    proj = model.projector
    llava.model.multi_modal_projector.linear_1.load_state_dict(proj[0].state_dict())
    llava.model.multi_modal_projector.linear_2.load_state_dict(proj[2].state_dict())
    llava.model.language_model.load_state_dict(lm.model.state_dict())
    llava.lm_head.load_state_dict(lm.lm_head.state_dict())
    vocab = llava.config.text_config.vocab_size
    if image_id >= vocab:
        llava.resize_token_embeddings(image_id + 1, mean_resizing=False)
    with torch.no_grad():
        # The `<image>` row: its input embedding is always replaced by image features; its output row is the
        # mean of the original rows, so its logit sits at the average (transformers' mean resizing does the
        # same, plus noise) and generation does not favour the image token. With tied embeddings both are one.
        for weights in (llava.get_input_embeddings().weight, llava.get_output_embeddings().weight):
            weights[image_id] = weights[: min(vocab, image_id)].mean(0)
    llava.save_pretrained(str(out_dir))
    template = parts_chat_template(tokenizer.chat_template)
    tokenizer.chat_template = template
    processor = LlavaProcessor(
        image_processor=model.vision.preprocess.processor,
        tokenizer=tokenizer,
        patch_size=vision_config.patch_size,
        vision_feature_select_strategy=config.vision_feature_select_strategy,
        num_additional_image_tokens=1 if is_clip else 0,
        image_token=IMAGE_TAG,
        chat_template=template,
    )
    processor.save_pretrained(str(out_dir))
