"""The runner: a recipe becomes phases (segments of row-local ops, stages, the final shards) run on Ray.

`run.run_recipe` plans the work units (`plan`), runs each phase (`segment`, `stage_phase`, `finalize`), resumes from
their markers, and writes `stats.json` and the manifest; `executor` applies one row-local op to a batch and
`accounting` keeps the per-step counts.

May import: `curation.rows`, `curation.io`, `curation.recipe`, the op model (`curation.ops.base`) and
`curation.stagekit`. Imports no stage family or op module: steps carry their op classes.
"""
