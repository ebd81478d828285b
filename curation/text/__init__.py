"""Text helpers shared by the text ops and dedup."""
