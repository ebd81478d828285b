"""The VLM: vision tower -> projector -> causal LM, with image features placed at image-token positions."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel

from training.model.vision import VisionTower

IMAGE_TOKEN_ID = -200  # placeholder id in input_ids; one per patch token, never looked up in the vocab


class VLM(nn.Module):
    """LLaVA-style model. Every forward runs the vision tower (a zero-weighted dummy image when a batch
    has none), so all ranks touch the same parameters each step and ZeRO-3 gathers never diverge."""

    def __init__(self, vision: VisionTower, projector: nn.Module, lm: PreTrainedModel) -> None:
        super().__init__()
        self.vision = vision
        self.projector = projector
        self.lm = lm

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.projector(self.vision(pixels))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pixel_values: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Return next-token logits [batch, seq, vocab]."""
        embed = self.lm.get_input_embeddings()
        image_mask = input_ids == IMAGE_TOKEN_ID
        embeds = embed(torch.where(image_mask, torch.zeros_like(input_ids), input_ids))
        has_images = pixel_values is not None and pixel_values.shape[0] > 0
        if not has_images:
            size = self.vision.image_size
            pixel_values = torch.zeros(1, 3, size, size, device=embeds.device)
        pixel_values = pixel_values.to(device=embeds.device, dtype=next(self.vision.parameters()).dtype)
        feats = self.image_features(pixel_values).to(embeds.dtype)
        if has_images:
            if feats.shape[0] * feats.shape[1] != int(image_mask.sum()):
                raise ValueError(
                    f"{int(image_mask.sum())} image-token positions but {feats.shape[0]} images x "
                    f"{feats.shape[1]} patches"
                )
            embeds = embeds.masked_scatter(image_mask.unsqueeze(-1), feats.reshape(-1, feats.shape[-1]))
        else:
            embeds = embeds + 0.0 * feats.sum()
        return self.lm(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False).logits
