"""Op registry. Built-in op modules register themselves on import."""

from __future__ import annotations

import importlib

from curation.ops.base import REGISTRY, Filter, Mapper, Op, Stage, register

BUILTIN_MODULES = (
    "curation.ops.url",
    "curation.ops.html",
    "curation.ops.lang",
    "curation.ops.gopher",
    "curation.ops.c4",
    "curation.ops.fineweb",
    "curation.ops.badwords",
    "curation.ops.image",
    "curation.ops.caption",
    "curation.ops.clip",
    "curation.ops.quantile",
    "curation.ops.nsfw",
    "curation.dedup.exact",
    "curation.dedup.minhash",
    "curation.dedup.phash",
    "curation.dedup.url",
    "curation.dedup.semantic",
    "curation.interleave.assign",
    "curation.interleave.similarity",
    "curation.interleave.filters",
    "curation.interleave.extract",
    "curation.interleave.attach",
    "curation.interleave.image_op",
)


def load_builtin_ops() -> dict[str, type[Op]]:
    """Import every built-in op module (idempotent) and return the registry."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    return REGISTRY


__all__ = ["REGISTRY", "Filter", "Mapper", "Op", "Stage", "load_builtin_ops", "register"]
