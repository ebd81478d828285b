"""Interleaved image-text documents (MMC4 / OBELICS): extraction from WARC, image attachment, assignment, filters."""
