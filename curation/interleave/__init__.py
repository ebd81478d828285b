"""Interleaved image-text documents (MMC4 / OBELICS): the row helpers (`document`), WARC -> document
(`extract`), image bytes from the same crawl (`attach`, a stage), MMC4 assignment (`assign`) and CLIP similarity
(`similarity`), OBELICS node / document filters (`filters`, with the ratio measures of `text_quality`), pair
filters on every image (`image_op`) and duplicate images (`image_dedup`, a stage).

May import: `curation.rows`, `curation.io`, `curation.models`, the op model and row-local helpers of `curation.ops`,
`curation.stagekit`, and `curation.dedup` (the URL normalisation that `url_dedup` uses, the pHash, candidate and
connected-component machinery); never `curation.runner`.
"""
