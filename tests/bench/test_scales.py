"""`--scale small` gives DataComp's published training settings, as open_clip's own argument parser reads them."""

from __future__ import annotations

import pytest

from curation.bench.config import BenchError, load_bench
from curation.bench.scales import get_scale, trainer_args

pytest.importorskip("open_clip_train.params")


def _parsed(scale_name: str, world_size: int = 1):
    from open_clip_train.params import parse_args

    args = trainer_args(
        get_scale(scale_name),
        model=get_scale(scale_name).model,
        train_data="/data/shard-{00000..00127}.tar",
        logs="/logs",
        name="run",
        seed=0,
        workers=4,
        world_size=world_size,
    )
    return args, parse_args(args)


def test_small_scale_is_datacomps_published_settings():
    # DataComp small: 12.8M pool, ViT-B/32, 12.8M samples seen, global batch 4096, lr 5e-4, warmup 500,
    # sampled with replacement over 5 checkpoints, AMP, local loss with gathered gradients, default AdamW betas.
    argv, a = _parsed("small")
    assert get_scale("small").pool_size == 12_800_000
    assert a.model == "ViT-B-32"
    assert a.train_num_samples * a.epochs == 12_800_000
    assert (a.train_num_samples, a.epochs) == (2_560_000, 5)
    assert a.batch_size == 4096
    assert a.lr == 5e-4 and a.warmup == 500
    assert a.dataset_resampled and a.dataset_type == "webdataset"
    assert a.precision == "amp"
    assert a.local_loss and a.gather_with_grad and a.grad_checkpointing and a.ddp_static_graph
    assert a.beta2 == 0.98 and a.wd == 0.2  # open_clip defaults for a ViT, as DataComp leaves them
    assert a.save_most_recent and a.resume == "latest"
    assert "--beta2" not in argv


def test_global_batch_is_split_over_ranks_and_xlarge_sets_beta2():
    _, a = _parsed("small", world_size=8)
    assert a.batch_size == 512
    _, x = _parsed("xlarge")
    assert (x.model, x.batch_size, x.lr, x.warmup, x.beta2) == ("ViT-L-14", 90112, 1e-3, 10000, 0.95)
    assert x.train_num_samples * x.epochs == 12_800_000_000
    _, m = _parsed("medium")
    _, lg = _parsed("large")
    assert (m.model, m.train_num_samples * m.epochs) == ("ViT-B-32", 128_000_000)
    assert (lg.model, lg.batch_size, lg.train_num_samples * lg.epochs) == ("ViT-B-16", 8192, 1_280_000_000)


def test_cli_scale_replaces_the_files_scale(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bench = tmp_path / "b.yaml"
    bench.write_text(
        "scale: tiny\nscale_overrides: {samples_seen: 1024}\npool: {path: p}\n"
        "strategies: [{name: none, kind: none}]\ntasks: [{name: t, kind: zeroshot}]\n"
    )
    assert load_bench(bench).scale.samples_seen == 1024
    small = load_bench(bench, "small").scale
    assert (small.name, small.samples_seen, small.batch_size) == ("small", 12_800_000, 4096)
    with pytest.raises(BenchError, match="unknown scale 'huge'"):
        load_bench(bench, "huge")
