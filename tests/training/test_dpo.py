"""DPO pieces without a launch: the two losses, rewards, and preference batches with precomputed references."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
import torch

from curation.io.shards import write_table_shards
from training.data.collate import collate_preference
from training.data.prompting import IGNORE_INDEX, DropSample, PromptEncoder
from training.data.shards import ShardSource
from training.model.lm import load_tokenizer
from training.stages.dpo import REF_COLUMNS, PreferenceSamples, dpo_losses

from .conftest import preference_table


def test_sigmoid_and_ipo_losses():
    policy = (torch.tensor([-1.0, -2.0]), torch.tensor([-3.0, -2.0]))
    reference = (torch.tensor([-2.0, -2.0]), torch.tensor([-2.0, -2.0]))
    losses, chosen, rejected = dpo_losses(policy, reference, beta=0.1, kind="sigmoid")
    # logits = (pi_c - pi_r) - (ref_c - ref_r) = [2, 0]
    assert losses.tolist() == pytest.approx([-math.log(1 / (1 + math.exp(-0.2))), math.log(2)])
    assert chosen.tolist() == pytest.approx([0.1, 0.0]) and rejected.tolist() == pytest.approx([-0.1, 0.0])
    ipo, _, _ = dpo_losses(policy, reference, beta=0.1, kind="ipo")
    assert ipo.tolist() == pytest.approx([(2 - 5) ** 2, 25.0])
    with pytest.raises(ValueError, match="unknown DPO loss"):
        dpo_losses(policy, reference, beta=0.1, kind="hinge")


def test_preference_batches_carry_precomputed_reference(workdir, tmp_path):
    table = preference_table(3)
    table = table.append_column(REF_COLUMNS[0], pa.array([-1.0, -2.0, None])).append_column(
        REF_COLUMNS[1], pa.array([-3.0, -4.0, -5.0])
    )
    write_table_shards(table, tmp_path / "prefs")
    source = ShardSource(tmp_path / "prefs", "preference", 0, False, REF_COLUMNS)
    tokenizer = load_tokenizer(str(workdir / "toy" / "lm"))
    builder = PreferenceSamples(PromptEncoder(tokenizer, 4, 128), lambda image: torch.zeros(3, 8, 8), True)
    samples = [builder(source.row(0)), builder(source.row(1))]
    batch = collate_preference(samples, tokenizer.pad_token_id)
    assert batch["ref_logps"].tolist() == [[-1.0, -3.0], [-2.0, -4.0]]
    assert batch["input_ids"].shape[0] == 4 and batch["pixel_values"].shape[0] == 4
    chosen = tokenizer.decode([t for t in batch["labels"][0].tolist() if t != IGNORE_INDEX])
    rejected = tokenizer.decode([t for t in batch["labels"][2].tolist() if t != IGNORE_INDEX])
    assert chosen.startswith("the answer is red.") and rejected.startswith("the answer is blue.")
    with pytest.raises(DropSample, match="missing_reference"):
        builder(source.row(2))
    with pytest.raises(ValueError, match="missing column"):
        write_table_shards(preference_table(2), tmp_path / "plain")
        ShardSource(tmp_path / "plain", "preference", 0, False, REF_COLUMNS)
