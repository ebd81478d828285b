"""Input and output: readers (WARC/WET/ARC, parquet, img2dataset, WebDataset, JSONL) split into work units, and the
atomic parquet / JSON writers, final shards and manifest.

Readers emit the schemas of `curation.rows`. May import: `curation.rows`; nothing else of curation.
"""
