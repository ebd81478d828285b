"""Instruction templates for data adaptation: captioned pairs and VQA rows -> conversations, with a seeded
choice of wording per row (the row's id and the seed decide it, so batching never changes the output).

The families follow LLaVA-1.5's data adaptation (brief captions, detailed descriptions, short-answer VQA with
its single-word-or-phrase format prompt); the wordings are this project's own.
"""

from __future__ import annotations

import random

import xxhash

from curation.io.instruct_formats import IMAGE_TAG

TEMPLATES: dict[str, tuple[str, ...]] = {
    "caption_short": (
        "Write a short caption for this image.",
        "What does this picture show? One sentence, please.",
        "Caption the photo briefly.",
        "In a few words, what is in the image?",
        "Give a one-line description of this picture.",
        "Sum up the image in a single sentence.",
        "Briefly say what you see.",
        "What is this a photo of? Keep it short.",
    ),
    "caption_detailed": (
        "Describe this image in detail.",
        "Tell me everything you can see in this picture.",
        "Give a thorough description of the photo: objects, people, setting and actions.",
        "Explain what is happening in the image, with as much detail as you can.",
        "Walk me through the contents of this picture.",
        "Write a detailed account of the scene shown.",
        "What is going on in this image? Describe it fully.",
        "Describe the picture carefully, mentioning the main objects and where they are.",
    ),
    # LLaVA-1.5's format prompt for short-answer VQA
    "vqa_short": ("{question}\nAnswer the question using a single word or phrase.",),
}
TASKS = tuple(TEMPLATES)


def row_rng(seed: int, key: str) -> random.Random:
    """A generator that depends only on (seed, key)."""
    return random.Random(xxhash.xxh3_64_intdigest(key.encode(), seed=seed))


def user_turn(task: str, rng: random.Random, question: str = "") -> str:
    """The user's turn: a template of `task` with the image tag before or after it (seeded)."""
    text = rng.choice(TEMPLATES[task]).format(question=question.strip())
    return f"{IMAGE_TAG}\n{text}" if rng.random() < 0.5 else f"{text}\n{IMAGE_TAG}"


def conversation(task: str, rng: random.Random, answer: str, question: str = "") -> list[dict]:
    """A one-image, one-exchange conversation of `task`."""
    return [
        {"role": "user", "content": user_turn(task, rng, question)},
        {"role": "assistant", "content": answer.strip()},
    ]
