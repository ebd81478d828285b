"""Input and output: readers (WARC/WET/ARC, parquet, img2dataset, WebDataset, JSONL; LLaVA / ShareGPT / TRL
instruction and preference files with their converters, `instruct_formats`) split into work units, and the
atomic parquet / JSON writers, final shards and
manifest, and the one schema of a run's rejects.

Readers emit the schemas of `curation.rows`. May import: `curation.rows`; nothing else of curation.
"""
