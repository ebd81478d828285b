"""`metaclip_balance`: global counts (any number of workers), MetaCLIP's keep rule checked statistically, t from a
target size, re-balancing from a counts file, bad input, and the report."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.balance import keep
from curation.balance.counts import load_counts
from curation.recipe import RecipeError, load_recipe
from curation.report import write_report

from .conftest import (
    balance_summary,
    metaclip_overrides,
    output_rows,
    run_metaclip,
    single_process_counts,
    stage_file,
)


def _counts(out) -> np.ndarray:
    return np.load(stage_file(out, "entry_count.npy"))


def _keep_chances(matches: list[list[int]], counts: np.ndarray, t: float) -> np.ndarray:
    """1 - prod(1 - t / max(count, t)) per row, computed here from the matches alone."""
    p = t / np.maximum(counts.astype(np.float64), t)
    return np.array([1 - np.prod(1 - p[row]) if row else 0.0 for row in matches])


def test_counts_equal_a_single_process_count_with_one_and_two_workers(
    reference_run, reference_matches, wordnet_metadata, pool, tmp_path
):
    ref = reference_run.output
    counts = _counts(ref)
    assert counts.dtype == np.uint64 and len(counts) == len(json.loads(wordnet_metadata.read_text()))
    assert np.array_equal(counts, single_process_counts(reference_matches, len(counts)))
    assert len(list(stage_file(ref, "counts").glob("f*.npz"))) == 8  # one persisted partial per work unit

    two = run_metaclip(tmp_path / "two", wordnet_metadata, pool, "execution.max_workers=2", t=20)
    assert np.array_equal(_counts(two.output), counts)
    assert output_rows(two.output) == output_rows(ref)
    assert two.stats["totals"] == reference_run.stats["totals"]


def test_keep_rule_statistics(reference_run, reference_matches):
    out, t = reference_run.output, 20
    counts = _counts(out)
    chances = _keep_chances(reference_matches, counts, t)
    kept = reference_run.stats["totals"]["output_rows"]
    expected, sigma = chances.sum(), math.sqrt((chances * (1 - chances)).sum())
    assert abs(kept - expected) <= 4 * sigma, (kept, expected, sigma)
    summary = balance_summary(out)
    passed = np.load(stage_file(out, summary["passed_entry_counts"]))
    assert passed.max() <= t + 4 * math.sqrt(t)  # rows each entry's own draw keeps: binomial, mean <= t
    assert (passed <= counts).all() and (passed[counts <= t] == counts[counts <= t]).all()
    (step,) = [s for s in reference_run.stats["steps"] if s["step"] == "metaclip_balance"]
    assert step["dropped"]["metaclip_balance:no_match"] == sum(not m for m in reference_matches)
    assert reference_run.stats["totals"]["identity_holds"]


def test_t_at_the_largest_count_keeps_every_matched_row_without_counting_again(
    reference_run, reference_matches, wordnet_metadata, pool, tmp_path
):
    counts_file = stage_file(reference_run.output, "entry_count.npy")
    t = int(np.load(counts_file).max())
    run = run_metaclip(tmp_path / "all", wordnet_metadata, pool, t=t, entry_counts=str(counts_file))
    assert run.stats["totals"]["output_rows"] == sum(bool(m) for m in reference_matches)
    assert not list(run.output.glob("_work/*/intermediate/counts"))  # reused, not counted
    assert balance_summary(run.output)["entry_counts"] == str(counts_file.resolve())


def test_t_solved_for_a_target_size(reference_run, reference_matches, wordnet_metadata, pool, tmp_path):
    target = 3000
    run = run_metaclip(tmp_path / "target", wordnet_metadata, pool, target_rows=target)
    t = balance_summary(run.output)["t"]
    counts = _counts(reference_run.output)
    at_t = _keep_chances(reference_matches, counts, t)
    assert at_t.sum() >= target > _keep_chances(reference_matches, counts, t - 1).sum()
    kept = run.stats["totals"]["output_rows"]
    assert abs(kept - at_t.sum()) <= 4 * math.sqrt((at_t * (1 - at_t)).sum())


def test_bad_input_is_counted_and_the_identity_holds(wordnet_metadata, ray_local, tmp_path):
    pool = tmp_path / "bad.parquet"
    captions = ["a dog in the park", None, "", "   ", "dog", None, "a cat on a mat", "\t\n"]
    pq.write_table(pa.table({"URL": [f"u{i}" for i in range(8)], "TEXT": captions}), pool, row_group_size=3)
    run = run_metaclip(tmp_path / "out", wordnet_metadata, pool, t=1)
    stats = {s["step"]: s for s in run.stats["steps"]}
    assert stats["metaclip_match"]["errors"] == {"metaclip_match:null_caption": 2}
    dropped = stats["metaclip_balance"]["dropped"]
    assert dropped["metaclip_balance:no_match"] == 3  # "", spaces, control characters
    assert run.stats["totals"]["identity_holds"]
    assert run.stats["totals"]["input_records"] == 8


def test_bad_balance_parameters_are_clear_errors(reference_run, wordnet_metadata, pool, tmp_path):
    base = metaclip_overrides(wordnet_metadata, pool)
    with pytest.raises(RecipeError, match="exactly one of t .* or target_rows"):
        load_recipe(
            "pipelines/metaclip.yaml", [*base, f"steps[1].metaclip_balance={{metadata: {wordnet_metadata}}}"]
        )
    wrong = tmp_path / "entry_count.npy"
    np.save(wrong, np.zeros(5, np.uint64))
    with pytest.raises(RecipeError, match="has 86671 entries but the counts are uint64 \\(5,\\)"):
        load_recipe(
            "pipelines/metaclip.yaml",
            metaclip_overrides(wordnet_metadata, pool, t=5, entry_counts=str(wrong)),
        )
    (tmp_path / "junk.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="not a .npy"):
        load_counts(tmp_path / "junk.npy", {"": 86671})


def test_report_shows_the_entry_distribution(reference_run):
    paths = write_report(reference_run.output)
    text = paths["text"].read_text()
    assert "MetaCLIP entry distribution (t = 20" in text
    head = text.split("selected\n", 1)[1].splitlines()[0].split()
    counts = _counts(reference_run.output)
    assert int(head[-3]) == counts.max()  # the most frequent entry comes first, with its count before
    assert "entries matched 1x" in text
    assert paths["entries_png0"].stat().st_size > 0
    assert "MetaCLIP entries" in paths["html"].read_text()


def test_per_language_thresholds_follow_the_primary_tail_share():
    en = np.array([100, 50, 10, 5, 0, 1], np.uint64)
    de = np.array([40, 20, 4, 2, 1, 1, 0], np.uint64)
    ts = keep.thresholds({"en": en, "de": de}, 20, "en")
    share = keep.tail_share(en, 20)  # (10 + 5 + 1) / 166
    assert ts["en"] == 20 and share == pytest.approx(16 / 166)
    portion = np.cumsum(np.sort(de)) / de.sum()
    assert ts["de"] == np.sort(de)[np.abs(portion - share).argmin()]
    assert keep.thresholds({"": en}, 7, "en") == {"": 7.0}


def test_draws_follow_the_uid_not_the_row_position(alt_texts, wordnet_metadata, ray_local, tmp_path):
    table = alt_texts.slice(0, 2000)
    kept = []
    for name, rows in (("forward", table), ("reversed", table.take(list(range(1999, -1, -1))))):
        path = tmp_path / f"{name}.parquet"
        pq.write_table(rows, path, row_group_size=700)
        run = run_metaclip(tmp_path / name, wordnet_metadata, path, t=3, uid_column="URL")
        kept.append(sorted(output_rows(run.output)))
    assert kept[0] == kept[1] and 0 < len(kept[0]) < 2000


def test_per_language_lists_are_counted_and_balanced_per_language(ray_local, tmp_path):
    folder = tmp_path / "metadata"
    folder.mkdir()
    (folder / "en.json").write_text(json.dumps(["dog", "cat", "bird"]))
    (folder / "de.json").write_text(json.dumps(["Hund", "Katze"]))
    rng = np.random.default_rng(0)
    en = rng.choice(
        ["a dog", "a cat", "a dog and a cat", "a bird", "nothing"], 600, p=[0.5, 0.2, 0.1, 0.1, 0.1]
    )
    de = rng.choice(["ein Hund", "eine Katze", "nichts"], 300, p=[0.7, 0.2, 0.1])
    captions = [*en.tolist(), *de.tolist(), "a dog"]
    langs = ["en"] * 600 + ["de"] * 300 + ["fr"]  # fr: no list of its own and no `other.json`
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"TEXT": captions, "lang": langs}), pool, row_group_size=250)
    run = run_metaclip(tmp_path / "out", folder, pool, t=100)
    counts = np.load(stage_file(run.output, "entry_counts.npz"))
    assert sorted(counts.files) == ["de", "en"]
    assert counts["en"].tolist() == [
        int((en == c).sum() + (en == "a dog and a cat").sum()) for c in ("a dog", "a cat")
    ] + [int((en == "a bird").sum())]
    assert counts["de"].tolist() == [int((de == "ein Hund").sum()), int((de == "eine Katze").sum())]
    ts = balance_summary(run.output)["t_per_list"]
    assert (
        ts["en"] == 100
        and ts["de"] == keep.thresholds({"en": counts["en"], "de": counts["de"]}, 100, "en")["de"]
    )
    (step,) = [s for s in run.stats["steps"] if s["step"] == "metaclip_balance"]
    no_match = int((en == "nothing").sum() + (de == "nichts").sum()) + 1
    assert step["dropped"]["metaclip_balance:no_match"] == no_match


def test_tag_only_keeps_every_row_and_writes_the_decision(wordnet_metadata, ray_local, tmp_path):
    pool = tmp_path / "pool.parquet"
    captions = ["a dog in the park", "", "a cat on a mat", "nothing matches here: zzqx"]
    pq.write_table(pa.table({"URL": [f"u{i}" for i in range(4)], "TEXT": captions}), pool)
    run = run_metaclip(tmp_path / "out", wordnet_metadata, pool, t=1000, tag_only=True)
    table = pq.read_table(run.output / "data")
    assert table.num_rows == 4 and run.stats["totals"]["identity_holds"]
    matched = [bool(m) for m in table.column("matched_entries").to_pylist()]
    assert table.column("metaclip_keep").to_pylist() == matched  # t above every count: matched rows pass
