"""Interleaved image-text documents (MMC4 / OBELICS): the row helpers (`document`), WARC -> document
(`extract`), image bytes from the same crawl (`attach`, a stage), MMC4 assignment (`assign`) and CLIP similarity
(`similarity`), OBELICS node / document filters (`filters`) and pair filters on every image (`image_op`).

May import: `curation.rows`, `curation.io`, `curation.models`, the op model and row-local helpers of `curation.ops`,
`curation.stagekit`, and `curation.dedup.url` (the URL normalisation that `url_dedup` uses); never `curation.runner`.
"""
