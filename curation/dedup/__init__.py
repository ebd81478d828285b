"""Global dedup stages: exact text, URL, MinHash near-duplicates, exact substrings (ExactSubstr), perceptual hash,
semantic (SemDeDup).

Each stage module registers one Stage; the rest are its parts (shingles, signatures, candidate pairs, distributed
connected components, marking the duplicates of each component's first row).

May import: `curation.rows`, `curation.io`, `curation.text`, the op model and row-local helpers of `curation.ops`,
and `curation.stagekit`; never `curation.runner`.
"""
