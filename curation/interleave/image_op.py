"""Run an image-text pair filter (NSFW, CLIP score, caption rules, ...) on every image of interleaved documents."""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa

from curation.interleave.document import split_images
from curation.ops.base import Filter, Mapper, register
from curation.rows import DROP, ERROR


@register("interleaved_image_op")
@dataclasses.dataclass
class InterleavedImageOp(Mapper):
    """Apply the pair filter `op` (with `params`) to each image of a document; failing images are dropped.

    Each image becomes a pair row (`image` = its bytes, `caption` = the text it is assigned to, `url`, `width`,
    `height`); an image
    the filter drops or fails on moves to `dropped_images` as `<op>:<rule>`. MMC4's NSFW rule:
    `{op: nsfw_filter, params: {threshold: 0.1}}`. Runs in the segment's actor pool (the filter may hold a model).
    """

    requires = ("texts", "images")
    provides = ("images", "dropped_images")
    uses_gpu = True

    op: str = "nsfw_filter"
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def _build(self) -> Filter:
        from curation.ops import load_builtin_ops  # the wrapped op may live in any op module

        cls = load_builtin_ops().get(self.op)
        if cls is None or not issubclass(cls, Filter):
            raise ValueError(f"op must name a row-local filter, got {self.op!r}")
        try:
            inner = cls(**self.params)
        except TypeError as exc:
            raise ValueError(f"params for {self.op}: {exc}") from None
        return inner

    def validate(self) -> None:
        self._build().validate()

    def setup(self) -> None:
        self._inner = self._build()
        self._inner.setup()

    def map(self, batch: pa.Table) -> pa.Table:
        docs_images = batch.column("images").to_pylist()
        docs_texts = batch.column("texts").to_pylist()
        images, captions, urls, widths, heights = [], [], [], [], []
        for texts, doc in zip(docs_texts, docs_images, strict=True):
            texts = texts or []
            for img in doc or []:
                index = img.get("text_index")
                images.append(img.get("bytes") or b"")
                captions.append(texts[index] if index is not None and 0 <= index < len(texts) else "")
                urls.append(img.get("url"))
                widths.append(img.get("width"))
                heights.append(img.get("height"))
        pairs = pa.table(
            {
                "image": pa.array(images, pa.binary()),
                "caption": pa.array(captions, pa.string()),
                "url": pa.array(urls, pa.string()),
                "width": pa.array(widths, pa.int32()),
                "height": pa.array(heights, pa.int32()),
            }
        )
        reasons: list[str | None] = [None] * pairs.num_rows
        if pairs.num_rows:
            out = self._inner.evaluate(pairs)
            for column in (ERROR, DROP):  # an error is the first reason given
                if column in out.column_names:
                    reasons = [r or v for r, v in zip(reasons, out.column(column).to_pylist(), strict=True)]
        keep, why, k = [], [], 0
        for doc in docs_images:
            n = len(doc or [])
            keep.append([r is None for r in reasons[k : k + n]])
            why.append(reasons[k : k + n])
            k += n
        return split_images(batch, keep, why, self._inner.op_name)
