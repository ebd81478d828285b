"""Text helpers shared by the text ops and dedup (word splitting, normalisation for hashing).

May import: nothing of curation.
"""
