"""mmcurate: multimodal data curation on Ray.

Layers, each importing only those before it: `rows` (the row contract) -> `io`, `text`, `models` -> `ops.base`
(the op model) -> `stagekit` -> op and stage families (`ops/`, `dedup/`, `select/`, ...) -> `recipe` -> `runner`
-> `cli`, `report`.
"""

import os

# Polars' bundled jemalloc keeps freed pages for reuse, so a Ray worker that ran polars group-bys keeps their
# high-water mark resident into every later task. Purge them at once instead (jemalloc reads this when polars
# loads, so it is set here, before any curation module imports polars; a value set by the user wins).
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
