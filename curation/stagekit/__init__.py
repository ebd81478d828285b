"""The stage kit: what every Stage needs, below both the runner and the stage families.

- `context.StageContext`: what a stage gets from the runner besides its dataset (work folder, seed, workers, rows).
- `input`: the parquet files behind a stage's input and their `_order` ranges; `require_columns`.
- `shuffle`: a file-based MapReduce on Ray tasks (key shuffles, per-file maps) as resumable sub-phases.
- `grouping.partitions_for`, `lookup` (a range join on `_order`), `hashing.mix64`, `memory.release_memory`.

May import: `curation.rows` and `curation.io` (files, atomic writes). Imports no stage family (dedup/, select/,
...) and nothing of `curation.runner`; both of those import from here.
"""
