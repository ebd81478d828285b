"""`preference_check` and the length-bias statistic of a preference run."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.ops.base import Filter, register, set_column, with_drop
from curation.text.words import normalize_for_hash


@register("preference_check")
@dataclasses.dataclass
class PreferenceCheck(Filter):
    """Checks of preference rows: a shared prompt that ends with a user turn, two non-empty responses that differ.

    Rules: `no_prompt` (empty prompt or one whose last turn is not the user's), `empty_response`, `identical`
    (chosen equals rejected after normalisation: lower-case, no punctuation or digits, collapsed spaces).
    Writes `chosen_words` and `rejected_words` (their length bias is reported by `curate report`).
    """

    requires = ("prompt", "chosen", "rejected")
    provides = ("chosen_words", "rejected_words")

    def _reason(self, row: dict) -> str | None:
        prompt = row["prompt"] or []
        if not prompt or prompt[-1]["role"] != "user":
            return "no_prompt"
        chosen, rejected = row["chosen"] or "", row["rejected"] or ""
        if not chosen.strip() or not rejected.strip():
            return "empty_response"
        if normalize_for_hash(chosen) == normalize_for_hash(rejected):
            return "identical"
        return None

    def evaluate(self, batch: pa.Table) -> pa.Table:
        rows = batch.select(["prompt", "chosen", "rejected"]).to_pylist()
        words = {k: [len((r[k] or "").split()) for r in rows] for k in ("chosen", "rejected")}
        batch = set_column(batch, "chosen_words", pa.array(words["chosen"], pa.int32()))
        batch = set_column(batch, "rejected_words", pa.array(words["rejected"], pa.int32()))
        return with_drop(batch, [self._reason(r) for r in rows])


def length_bias(output: str | Path) -> dict | None:
    """How much longer chosen responses are than rejected ones in a finished preference run (None otherwise).

    `chosen_longer` is the share of pairs whose chosen response has more words (0.5 = no bias; DPO data with
    a high share teaches length), `mean_log_ratio` the mean of log((chosen + 1) / (rejected + 1)) in words.
    """
    from curation.instruct.export import output_rows, output_shards

    shards = output_shards(Path(output))
    if not shards or not {"chosen", "rejected"} <= set(pq.read_schema(shards[0]).names):
        return None
    n = longer = shorter = 0
    log_ratio = chosen_total = rejected_total = 0.0
    for row in output_rows(Path(output), ["chosen", "rejected"]):
        c, r = len((row["chosen"] or "").split()), len((row["rejected"] or "").split())
        n += 1
        longer += c > r
        shorter += c < r
        chosen_total += c
        rejected_total += r
        log_ratio += math.log((c + 1) / (r + 1))
    if not n:
        return {"pairs": 0}
    return {
        "pairs": n,
        "chosen_longer": longer / n,
        "chosen_shorter": shorter / n,
        "mean_chosen_words": chosen_total / n,
        "mean_rejected_words": rejected_total / n,
        "mean_log_ratio": log_ratio / n,
    }
