"""Turn-by-turn tokenisation: only assistant tokens are labelled, images expand in place, bad samples drop."""

from __future__ import annotations

import pytest
import torch

from training.data.prompting import IGNORE_INDEX, DropSample, PromptEncoder
from training.model.lm import load_tokenizer
from training.model.vlm import IMAGE_TOKEN_ID

CONVERSATION = [
    {"role": "system", "content": "you are a helpful assistant"},
    {"role": "user", "content": "<image>\nwhat color is the square?"},
    {"role": "assistant", "content": "the answer is red."},
    {"role": "user", "content": "describe the picture"},
    {"role": "assistant", "content": "a red square on a white background"},
]


@pytest.fixture(scope="module")
def tokenizer(workdir):
    return load_tokenizer(str(workdir / "toy" / "lm"))


def labelled_text(tokenizer, encoded) -> str:
    return tokenizer.decode([t for t in encoded.labels if t != IGNORE_INDEX])


def test_only_assistant_tokens_are_labelled(tokenizer):
    enc = PromptEncoder(tokenizer, num_patches=4, max_length=512).encode(CONVERSATION, 1)
    assert (
        labelled_text(tokenizer, enc)
        == "the answer is red.<|im_end|>\na red square on a white background<|im_end|>\n"
    )
    # the unlabelled rest is exactly the template around them: system + user turns and assistant headers
    full = tokenizer.decode([t for t in enc.input_ids if t != IMAGE_TOKEN_ID])
    assert full == tokenizer.apply_chat_template(CONVERSATION, tokenize=False).replace("<image>", "")
    assert enc.input_ids.count(IMAGE_TOKEN_ID) == 4
    assert all(
        label == IGNORE_INDEX
        for t, label in zip(enc.input_ids, enc.labels, strict=True)
        if t == IMAGE_TOKEN_ID
    )


def test_image_tokens_sit_where_the_tag_was(tokenizer):
    enc = PromptEncoder(tokenizer, num_patches=3, max_length=512).encode(CONVERSATION, 1)
    start = enc.input_ids.index(IMAGE_TOKEN_ID)
    before = tokenizer.decode(enc.input_ids[:start])
    assert before.endswith("<|im_start|>user\n")
    assert enc.input_ids[start : start + 3] == [IMAGE_TOKEN_ID] * 3
    assert tokenizer.decode(enc.input_ids[start + 3 :]).startswith("\nwhat color is the square?<|im_end|>")


@pytest.mark.parametrize(
    "messages, images, max_length, reason",
    [
        (CONVERSATION, 0, 512, "image_count_mismatch"),  # more <image> tags than images
        (CONVERSATION, 2, 512, "image_count_mismatch"),  # fewer tags than images
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}], 0, 512, None),
        (CONVERSATION[:2], 1, 512, "fully_masked"),  # no assistant turn at all
        (CONVERSATION, 1, 12, "truncated_image"),  # cut inside the image tokens
        ([{"role": "assistant", "content": "hello"}], 0, 512, "bad_conversation"),
        ([{"role": "robot", "content": "x"}], 0, 512, "bad_conversation"),
    ],
)
def test_bad_samples_drop_with_reason(tokenizer, messages, images, max_length, reason):
    encoder = PromptEncoder(tokenizer, num_patches=16, max_length=max_length)
    if reason is None:  # an empty assistant reply still trains on its end-of-turn token
        assert labelled_text(tokenizer, encoder.encode(messages, images)) == "<|im_end|>\n"
        return
    with pytest.raises(DropSample) as err:
        encoder.encode(messages, images)
    assert err.value.reason == reason


def test_truncation_after_images_keeps_sample(tokenizer):
    full = PromptEncoder(tokenizer, num_patches=4, max_length=512).encode(CONVERSATION, 1)
    cut = len(full.input_ids) - 5
    enc = PromptEncoder(tokenizer, num_patches=4, max_length=cut).encode(CONVERSATION, 1)
    assert enc.input_ids == full.input_ids[:cut] and enc.labels == full.labels[:cut]


def test_sft_loss_counts_only_assistant_tokens(tokenizer):
    """The loss used by stages 1-2 equals cross-entropy over exactly the assistant tokens."""
    from training.data.collate import pad_encoded
    from training.model.vlm import label_logps

    def token_logps(logits, labels):  # the lm_head is the identity: hidden states are the logits
        return label_logps(logits, torch.nn.Identity(), labels, chunk=4)

    enc = PromptEncoder(tokenizer, num_patches=4, max_length=512).encode(CONVERSATION, 1)
    batch = pad_encoded([enc], tokenizer.pad_token_id)
    torch.manual_seed(0)
    logits = torch.randn(1, len(enc.input_ids), len(tokenizer))
    logp_sum, count = token_logps(logits, batch["labels"])
    assistant = [i for i, label in enumerate(enc.labels) if label != IGNORE_INDEX]
    expected = [torch.log_softmax(logits[0, i - 1], -1)[enc.input_ids[i]] for i in assistant]
    assert (
        int(count)
        == len(assistant)
        == len(
            tokenizer("the answer is red.<|im_end|>\na red square on a white background<|im_end|>\n")[
                "input_ids"
            ]
        )
    )
    assert torch.allclose(logp_sum[0], torch.stack(expected).sum())
    # changing the logits that predict non-assistant tokens leaves the loss unchanged
    other = torch.ones(logits.shape[1], dtype=torch.bool)
    other[[i - 1 for i in assistant]] = False
    perturbed = logits.clone()
    perturbed[0, other] += 5 * torch.randn_like(perturbed[0, other])
    assert torch.equal(token_logps(perturbed, batch["labels"])[0], logp_sum)
