"""The runner: a recipe becomes phases (segments of row-local ops, stages, the final shards) run on Ray.

`run.run_recipe` checks the recipe's columns, plans the work units (`plan`), starts Ray (`cluster`), and runs the
phase objects of `phases` in order (`segment`, `stage_phase`, `finalize` do the work; each phase returns its files and
step statistics), showing a `progress` line per phase; then writes `stats.json` and the manifest. `executor` applies
one row-local op to a batch and `accounting` keeps the per-step counts.

May import: `curation.rows`, `curation.io`, `curation.recipe`, the op model (`curation.ops.base`) and
`curation.stagekit`. Imports no stage family or op module: steps carry their op classes.
"""
