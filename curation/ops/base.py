"""The op model (design section 3): Mapper, Filter and Stage, and the registry that names them in YAML.

Row-local ops (Mapper, Filter) take and return `pyarrow.Table` batches. They mark rows, they never drop them:
a Filter returns a string column `_drop` (null = keep, else the rule that failed) and any op may return a string
column `_error` (null = fine, else what went wrong with that row) and `_note` (null, else a decision about that
row worth counting that is neither, such as a fallback taken). The runner turns those marks into accounting,
rejects and the kept batch (`curation.rows.split_marks`). A Stage works on the whole `ray.data.Dataset` and marks
drops the same way.

An op is registered by decorating its class with `@register("name")` in any module under `curation/` (found by
`curation.ops.load_builtin_ops`, no list to edit) or in a user module named in a recipe's `plugins:`.
`requires` / `provides` name the columns an op reads and adds; `curate validate` checks them along the recipe.
"""

from __future__ import annotations

import dataclasses
import inspect
import string
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from curation.rows import DROP, ERROR, NOTE, set_column, with_drop

if TYPE_CHECKING:
    import ray.data

    from curation.stagekit.context import StageContext

__all__ = [
    "AT_LEAST_0",
    "DROP",
    "ERROR",
    "FRACTION",
    "NOTE",
    "POSITIVE",
    "REGISTRY",
    "Filter",
    "Mapper",
    "Op",
    "Stage",
    "register",
    "set_column",
    "with_drop",
]

REGISTRY: dict[str, type[Op]] = {}

# Inclusive (low, high) bounds of a numeric parameter, None for no bound, for `Op.ranges`.
Bounds = tuple[float | None, float | None]
AT_LEAST_0: Bounds = (0, None)
POSITIVE: Bounds = (1, None)
FRACTION: Bounds = (0, 1)


def register(name: str) -> Callable[[type[Op]], type[Op]]:
    """Class decorator: make an op available in recipes under `name`."""

    def deco(cls: type[Op]) -> type[Op]:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"op name {name!r} registered twice")
        cls.op_name = name
        REGISTRY[name] = cls
        return cls

    return deco


@dataclasses.dataclass
class Op:
    """Base of all ops. Subclasses are dataclasses whose fields are the YAML parameters."""

    op_name: ClassVar[str] = ""
    # Columns it reads, and columns it adds or rewrites; `{param}` stands for the value of a parameter (an entry
    # whose parameter is unset names no column). `curate validate` checks them along the recipe.
    requires: ClassVar[tuple[str, ...]] = ()
    provides: ClassVar[tuple[str, ...]] = ()
    uses_gpu: ClassVar[bool] = False
    # Bounds of numeric parameters (of a list's elements, of a dict's values), checked by the recipe parser
    # before `validate`: e.g. `{"max_ratio": FRACTION, "min_words": AT_LEAST_0}`.
    ranges: ClassVar[dict[str, Bounds]] = {}

    def setup(self) -> None:
        """Load models and other heavy state; called once per worker before the first batch."""

    def validate(self) -> None:
        """Check parameter values; raise ValueError with a message naming the parameter."""

    def preflight(self) -> None:
        """Check, in the driver before the run, that what `setup` loads is there (models, weights); raise
        ValueError or OSError saying what is missing and how to point at a local copy."""

    def required_columns(self) -> tuple[str, ...]:
        """The input columns this configured op reads: `requires` with its parameters filled in."""
        return self._fill(self.requires)

    def provided_columns(self) -> tuple[str, ...]:
        """The columns this configured op adds or rewrites: `provides` with its parameters filled in."""
        return self._fill(self.provides)

    def missing_columns(self, available: Collection[str]) -> list[str]:
        """The columns this op reads that `available` lacks."""
        return [c for c in self.required_columns() if c not in available]

    def _fill(self, templates: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for template in templates:
            values = {
                name: getattr(self, name) for _, name, _, _ in string.Formatter().parse(template) if name
            }
            if all(v not in (None, "") for v in values.values()):
                out.append(template.format(**values))
        return tuple(out)

    @classmethod
    def params(cls) -> list[tuple[str, str, Any]]:
        """(name, type, default) of every YAML parameter, for `curate ops` and validation."""
        out = []
        for f in dataclasses.fields(cls):
            if f.name.startswith("_") or not f.init:
                continue
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                default = "<required>"
            out.append((f.name, str(f.type), default))
        return out

    @classmethod
    def summary(cls) -> str:
        doc = inspect.getdoc(cls) or ""
        return doc.split("\n\n")[0].replace("\n", " ")


@dataclasses.dataclass
class Mapper(Op):
    """Adds or rewrites columns of every row."""

    def map(self, batch: pa.Table) -> pa.Table:
        raise NotImplementedError


@dataclasses.dataclass
class Filter(Op):
    """Writes score columns and marks rows to drop in `_drop` with the failed rule's name.

    With `tag_only: true` every row is kept and only the scores are written.
    """

    tag_only: bool = False

    def evaluate(self, batch: pa.Table) -> pa.Table:
        """Return the batch with score columns and a `_drop` column."""
        raise NotImplementedError


@dataclasses.dataclass
class Stage(Op):
    """Dataset-level work that needs a global view (dedup, balancing, global quantiles).

    `run` returns every input row, with a `_drop` column marking the rows to remove, so the runner can count them.
    Intermediates go under `ctx.work_dir` with completion markers so a resumed run skips finished sub-phases.
    """

    # What `tag_only: true` writes instead of dropping; None: the stage has no tag mode (the recipe refuses it).
    tag_fields: ClassVar[tuple[pa.Field, ...] | None] = None

    tag_only: bool = False

    def run(self, ds: ray.data.Dataset, ctx: StageContext) -> ray.data.Dataset:
        raise NotImplementedError

    def active_tags(self) -> tuple[pa.Field, ...] | None:
        """The columns to write instead of dropping: `tag_fields` when `tag_only`, else None (drop)."""
        return self.tag_fields if self.tag_only else None

    def provided_columns(self) -> tuple[str, ...]:
        """`provides` filled in, plus the tag columns when `tag_only`."""
        return super().provided_columns() + tuple(f.name for f in self.active_tags() or ())

    def kept_schema(self, schema: pa.Schema) -> pa.Schema | None:
        """The schema of the rows this stage keeps from rows of `schema`, for a run whose rows were all dropped
        before it: `schema` when it only marks drops, with the `tag_fields` when `tag_only`, None (unknown) when
        it writes other columns. A stage that writes columns of known types says so by overriding it."""
        if super().provided_columns():
            return None
        for field in self.active_tags() or ():
            index = schema.get_field_index(field.name)
            schema = schema.set(index, field) if index >= 0 else schema.append(field)
        return schema
