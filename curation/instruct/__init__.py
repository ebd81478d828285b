"""Instruction and preference data for the trainer's stages 2 and 3: format converters (LLaVA, ShareGPT /
LLaMA-Factory / OpenAI, TRL) as recipe readers and `curate export` targets, adaptation templates, and the ops that
curate conversation and preference rows (trainer-parity validation, assistant quality, dedup keys, preference
checks, decontamination, mixing).

May import: `curation.rows`, `curation.io`, `curation.text`, the op model and image helpers of `curation.ops`,
`curation.stagekit`, and (lazily, in `validate`) the trainer's sample builder; never `curation.runner`.
"""
