"""The VLM: vision tower -> projector -> causal LM, with image features placed at image-token positions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from training.model.vision import VisionTower

if TYPE_CHECKING:
    from transformers import PreTrainedModel

IMAGE_TOKEN_ID = -200  # placeholder id in input_ids; one per patch token, never looked up in the vocab
IGNORE_INDEX = -100  # label of positions that carry no loss
LOGP_CHUNK = 1024  # labelled tokens per lm_head chunk: at most this many rows of vocabulary-wide logits exist


def causal_lm(lm: nn.Module) -> PreTrainedModel:
    """The HF causal LM under a PEFT wrapper (adapters stay injected in its layers), or `lm` itself."""
    return lm.get_base_model() if hasattr(lm, "get_base_model") else lm


def _chunk_logps(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = head(hidden).float()
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


def label_logps(
    hidden: torch.Tensor, head: nn.Module, labels: torch.Tensor, chunk: int = LOGP_CHUNK
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence sum of log p(label) over labelled positions, and the number of labelled positions.

    Only labelled positions go through `head`, `chunk` at a time, each chunk recomputed in backward instead of
    kept, so vocabulary-wide fp32 logits never exist for more than `chunk` tokens.
    """
    mask = labels[:, 1:] != IGNORE_INDEX
    counts = mask.sum(-1)
    sums = torch.zeros(labels.shape[0], dtype=torch.float32, device=hidden.device)
    selected, targets = hidden[:, :-1][mask], labels[:, 1:][mask]
    if not selected.shape[0]:  # still run the head once, so every rank touches the same parameters
        return sums + 0.0 * head(hidden[:1, :1]).float().sum(), counts
    rows = mask.nonzero()[:, 0]
    pieces = []
    for start in range(0, selected.shape[0], chunk):
        h, t = selected[start : start + chunk], targets[start : start + chunk]
        if torch.is_grad_enabled():
            pieces.append(checkpoint(_chunk_logps, head, h, t, use_reentrant=False))
        else:
            pieces.append(_chunk_logps(head, h, t))
    return sums.index_add(0, rows, torch.cat(pieces)), counts


class VLM(nn.Module):
    """LLaVA-style model. Every forward runs the vision tower (a zero-weighted dummy image when a batch
    has none), so all ranks touch the same parameters each step and ZeRO-3 gathers never diverge."""

    def __init__(
        self, vision: VisionTower, projector: nn.Module, lm: PreTrainedModel, logp_chunk: int = LOGP_CHUNK
    ) -> None:
        super().__init__()
        self.vision = vision
        self.projector = projector
        self.lm = lm
        self.logp_chunk = logp_chunk

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.projector(self.vision(pixels))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Next-token logits [batch, seq, vocab]; with `labels`, `label_logps` instead (no full logits).

        Packed rows pass `position_ids` restarting at 0 for each sample and no attention mask, so attention
        stays within each sample.
        """
        embeds = self.embed(input_ids, pixel_values)
        if labels is None:
            out = self.lm(
                inputs_embeds=embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=False,
            )
            return out.logits
        base = causal_lm(self.lm)
        decoder = getattr(base, base.base_model_prefix)
        hidden = decoder(
            inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        return label_logps(hidden, base.get_output_embeddings(), labels, self.logp_chunk)

    def embed(self, input_ids: torch.Tensor, pixel_values: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings with the projected patch features at the image-token positions."""
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
        return embeds
