"""Instruction and preference data for the trainer's stages 2 and 3: `curate export` to LLaVA / ShareGPT / OpenAI /
TRL files (the converters and readers are in `curation.io.instruct_formats` / `curation.io.instruct`), adaptation
templates, evaluation sets, and the ops that curate conversation and preference rows (trainer-parity validation,
assistant quality, dedup keys, preference checks, decontamination, mixing).

May import: `curation.rows`, `curation.io`, `curation.text`, the op model and image helpers of `curation.ops`,
`curation.stagekit`, and (lazily, in `validate`) the trainer's sample builder; never `curation.runner`.
"""
