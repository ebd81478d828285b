"""MetaCLIP concept balancing: metadata entry lists, caption-to-entry matching, and the per-entry balancing stage."""
