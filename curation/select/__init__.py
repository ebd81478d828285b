"""Selection stages: keep a part of the whole pool by a global rule (`top_fraction`: the best fraction by a score).

May import: `curation.rows`, `curation.ops.base` (the op model) and `curation.stagekit`; never `curation.runner`.
"""
