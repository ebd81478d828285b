"""`curate bench`: DataComp-style filter benchmarking (select row ids, export, train CLIP with open_clip, evaluate).

Above the runner: it scores a pool once through `curation.runner`, then works on the scored parquet alone
(`pool`, `strategies`), trains through open_clip's own entry point in a subprocess (`trainer`, `launch`,
`scales`) and evaluates the checkpoints (`evaluate`, `idx`); `table` ranks, `run` ties it together.
"""
