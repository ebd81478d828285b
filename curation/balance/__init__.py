"""MetaCLIP concept balancing: metadata entry lists, caption-to-entry matching, and the per-entry balancing stage.

- `wordnet`, `builder`, `entries`: the entry lists (`curate metadata build`; MetaCLIP's `metadata.json` layout; a
  folder of `<lang>.json` lists for MetaCLIP 2) and their validation.
- `matching`: the `metaclip_match` op (MetaCLIP's spacing rules, one Aho-Corasick automaton per worker).
- `counts`, `keep`, `stage`: the `metaclip_balance` stage (per-file partial counts persisted, then summed; the keep
  rule with draws from (seed, uid, entry); t from a target size).
- `report`: the entry distribution before and after balancing, for `curate report`.

May import: `curation.rows`, `curation.io`, `curation.ops.base` (the op model) and `curation.stagekit`; never
`curation.runner`.
"""
