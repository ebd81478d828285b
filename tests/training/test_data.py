"""Streaming over curated shards: rank/worker split, resumable positions, mixtures, and bad input."""

from __future__ import annotations

import io

import pyarrow as pa
import pytest

from curation.io.shards import write_manifest, write_shard, write_table_shards
from curation.rows import CONVERSATION, SchemaMismatch
from training.config import SourceConfig
from training.data.collate import collate_sft
from training.data.prompting import PromptEncoder
from training.data.shards import Mixture, ShardSource
from training.data.stream import BatchStream, StreamSpec, make_loader
from training.model.lm import load_tokenizer
from training.stages.instruct import ConversationSamples

from .conftest import COLORS, conversation_table, png


def ids_table(n: int, offset: int = 0) -> pa.Table:
    """Conversations whose only content is their row id (so batches can be read back as ids)."""
    rows = [
        [{"role": "user", "content": f"row {i}"}, {"role": "assistant", "content": f"id {i}"}]
        for i in range(offset, offset + n)
    ]
    return pa.Table.from_pydict(
        {"id": [str(i) for i in range(offset, offset + n)], "images": [[] for _ in rows], "messages": rows},
        schema=CONVERSATION,
    )


@pytest.fixture(scope="module")
def builder(workdir):
    tokenizer = load_tokenizer(str(workdir / "toy" / "lm"))
    encoder = PromptEncoder(tokenizer, num_patches=4, max_length=128)
    return ConversationSamples(encoder, transform=lambda image: image), tokenizer


def row_ids(batch: dict, tokenizer) -> list[str]:
    texts = tokenizer.batch_decode(batch["input_ids"])
    return [t.split("row ")[1].split("<")[0] for t in texts] if batch.get("samples") else []


def stream(sources, builder, rank=0, world=1, micro=3, start=0, stop=None, shuffle=True, seed=0):
    build, tokenizer = builder
    spec = StreamSpec(sources, "conversation", seed, shuffle, rank, world, micro)
    return BatchStream(spec, build, lambda s: collate_sft(s, tokenizer.pad_token_id), start, stop)


def test_ranks_and_workers_partition_each_epoch(tmp_path, builder):
    write_table_shards(ids_table(23), tmp_path / "d", shard_rows=5)
    src = [SourceConfig(path=str(tmp_path / "d"))]
    _, tok = builder
    seen = []
    for rank in range(2):
        for workers in (0, 2):
            got = [
                i
                for b in make_loader(stream(src, builder, rank, 2, 3, stop=4), workers)
                for i in row_ids(b, tok)
            ]
            seen.append(got)
    assert seen[0] == seen[1] and seen[2] == seen[3], "worker count must not change a rank's stream"
    rank0, rank1 = seen[0], seen[2]  # global items g = 0, 2, ..., 22 and g = 1, 3, ..., 23
    assert len(rank0) == len(rank1) == 12
    epoch0 = [int(i) for pair in zip(rank0, rank1[:11] + [None], strict=True) for i in pair if i is not None]
    assert sorted(epoch0) == list(range(23)), "each row exactly once per epoch across ranks"
    assert epoch0 != list(range(23)), "rows are shuffled"


def test_position_resume_gives_the_same_batches(tmp_path, builder):
    write_table_shards(ids_table(17), tmp_path / "d", shard_rows=4)
    src = [SourceConfig(path=str(tmp_path / "d"))]
    _, tok = builder
    full = [row_ids(b, tok) for b in make_loader(stream(src, builder, 1, 2, 2, stop=12), 2)]
    resumed = [row_ids(b, tok) for b in make_loader(stream(src, builder, 1, 2, 2, start=7, stop=12), 2)]
    assert resumed == full[7:]


def test_mixture_follows_weights_and_is_deterministic(tmp_path):
    a, b = Mixture([3.0, 1.0], seed=5), Mixture([3.0, 1.0], seed=5)
    picks = [a.locate(g) for g in range(10000)]
    assert picks == [b.locate(g) for g in range(10000)]
    share = sum(1 for s, _ in picks if s == 0) / len(picks)
    assert 0.73 < share < 0.77
    # per-source indices count up without gaps
    for source in (0, 1):
        ks = [k for s, k in picks if s == source]
        assert ks == list(range(len(ks)))
    late = Mixture([3.0, 1.0], seed=5)
    assert late.locate(9000) == picks[9000]


def test_mixture_of_two_sources_in_batches(tmp_path, builder):
    write_table_shards(ids_table(10), tmp_path / "a", shard_rows=10)
    write_table_shards(ids_table(10, offset=100), tmp_path / "b", shard_rows=10)
    src = [SourceConfig(path=str(tmp_path / "a"), weight=1), SourceConfig(path=str(tmp_path / "b"), weight=1)]
    _, tok = builder
    ids = [int(i) for b in stream(src, builder, micro=4, stop=10) for i in row_ids(b, tok)]
    from_b = sum(i >= 100 for i in ids)
    assert 10 <= from_b <= 30 and len(ids) == 40


def test_bad_rows_are_counted_not_fatal(tmp_path, builder):
    good = conversation_table(4)
    bad = pa.Table.from_pydict(
        {
            "id": ["too-many-tags", "corrupt-image", "no-images-column-value"],
            "images": [[png(COLORS["red"])], [b"\x89PNG\r\n\x1a\n not really a png"], None],
            "messages": [
                [{"role": "user", "content": "<image> and <image>"}, {"role": "assistant", "content": "two"}],
                [{"role": "user", "content": "<image>"}, {"role": "assistant", "content": "red"}],
                [{"role": "user", "content": "<image>"}, {"role": "assistant", "content": "?"}],
            ],
        },
        schema=CONVERSATION,
    )
    out = tmp_path / "mixed"
    shards = [write_shard(good, out, 0), write_shard(bad, out, 1), write_shard(good.slice(0, 0), out, 2)]
    write_manifest(out, shards, CONVERSATION)
    build, tok = builder
    from PIL import Image

    def transform(image: Image.Image):
        import torchvision.transforms.functional as F

        return F.to_tensor(image.resize((8, 8)))

    spec = StreamSpec([SourceConfig(path=str(out))], "conversation", 0, False, 0, 1, 7)
    batches = list(
        BatchStream(spec, ConversationSamples(build.encoder, transform), lambda s: collate_sft(s, 0), 0, 1)
    )
    assert batches[0]["samples"] == 4
    assert batches[0]["drops"] == {"image_count_mismatch": 2, "bad_image": 1}
    assert batches[0]["pixel_values"].shape == (2, 3, 8, 8)  # the two good image conversations


def test_empty_shard_is_skipped_and_empty_source_is_an_error(tmp_path):
    out = tmp_path / "empty"
    write_manifest(out, [write_shard(ids_table(0), out, 0)], CONVERSATION)
    with pytest.raises(ValueError, match="source has no rows"):
        ShardSource(out, "conversation", 0, True)
    mixed = tmp_path / "mixed"
    write_manifest(
        mixed, [write_shard(ids_table(0), mixed, 0), write_shard(ids_table(3), mixed, 1)], CONVERSATION
    )
    assert ShardSource(mixed, "conversation", 0, True).rows == 3


def test_missing_column_is_a_clear_error(tmp_path):
    write_table_shards(ids_table(3).drop_columns(["images"]), tmp_path / "d")
    with pytest.raises(SchemaMismatch, match="missing column 'images'"):
        ShardSource(tmp_path / "d", "conversation", 0, True)
    with pytest.raises(FileNotFoundError, match="_manifest.json"):
        ShardSource(tmp_path / "nowhere", "conversation", 0, True)
    write_table_shards(ids_table(3), tmp_path / "run")
    with pytest.raises(
        FileNotFoundError, match=r"no _manifest.json; .* \(its parent .*run is one: give that\)"
    ):
        ShardSource(tmp_path / "run" / "data", "conversation", 0, True)  # the run's data/ instead of the run


def test_images_decode_through_the_tower_transform(workdir):
    from training.config import VisionConfig
    from training.data.samples import decode_images
    from training.model.vision import build_vision_tower

    tower = build_vision_tower(VisionConfig(name=str(workdir / "toy" / "open_clip"), pretrained=None))
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGBA", (50, 20), (10, 20, 30, 40)).save(buf, format="PNG")
    (pixels,) = decode_images([buf.getvalue()], tower.preprocess)
    assert pixels.shape == (3, tower.image_size, tower.image_size)
