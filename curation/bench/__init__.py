"""`curate bench`: DataComp-style filter benchmarking (select row ids, export, train CLIP with open_clip, evaluate)."""
