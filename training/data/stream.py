"""The per-rank batch stream: mixture items split across ranks and loader workers, resumable by batch index.

Global mixture item g belongs to rank g % world. A rank's batch b is the fixed window of its items
[b * micro_batch, (b + 1) * micro_batch); dropped samples shrink the batch rather than pull in later
items, so batch b's content depends only on b. Loader worker w builds batches b with (b - start) % W == w,
and the DataLoader's round robin hands them back in order; the data position is just the next b.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from training.config import SourceConfig
from training.data.prompting import DropSample
from training.data.shards import Mixture, ShardSource


@dataclass
class StreamSpec:
    """Everything that fixes the content of a rank's batch stream."""

    sources: list[SourceConfig]
    schema: str
    seed: int
    shuffle: bool
    rank: int
    world: int
    micro_batch: int
    extra_columns: tuple[str, ...] = ()


def open_sources(spec: StreamSpec) -> list[ShardSource]:
    return [
        ShardSource(
            s.path,
            spec.schema,
            seed=spec.seed * 1000 + i,
            shuffle=spec.shuffle,
            extra_columns=spec.extra_columns,
        )
        for i, s in enumerate(spec.sources)
    ]


class BatchStream(IterableDataset):
    """Yields collated batches `{"batch_index", "drops", ...tensors}` from `start` (to `stop`, if given)."""

    def __init__(
        self,
        spec: StreamSpec,
        build: Callable[[dict], object],
        collate: Callable[[list], dict],
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.build = build
        self.collate = collate
        self.start = start
        self.stop = stop

    def batch(self, b: int, sources: list[ShardSource], mixture: Mixture) -> dict:
        spec = self.spec
        samples, drops = [], Counter()
        for j in range(spec.micro_batch):
            g = (b * spec.micro_batch + j) * spec.world + spec.rank
            source, k = mixture.locate(g)
            try:
                samples.append(self.build(sources[source].row(k)))
            except DropSample as drop:
                drops[drop.reason] += 1
        out = self.collate(samples)
        out["batch_index"] = b
        out["samples"] = len(samples)
        out["drops"] = dict(drops)
        return out

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        sources = open_sources(self.spec)
        mixture = Mixture([s.weight for s in self.spec.sources], seed=self.spec.seed)
        for b in itertools.count(self.start + worker, workers):
            if self.stop is not None and b >= self.stop:
                return
            yield self.batch(b, sources, mixture)


def make_loader(stream: BatchStream, num_workers: int) -> DataLoader:
    """A DataLoader that passes the stream's batches through unchanged, in order."""
    return DataLoader(
        stream,
        batch_size=None,
        num_workers=num_workers,
        prefetch_factor=2 if num_workers else None,
        persistent_workers=False,
    )
