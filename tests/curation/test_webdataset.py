"""WebDataset: a run's pairs export to tar shards and read back as the same samples; broken tars are counted."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from curation.cli import main
from curation.io.reader_stats import ReaderStats
from curation.io.readers import file_units, read_unit
from curation.io.units import Unit
from curation.recipe import parse_recipe
from curation.runner.run import run_recipe

IMAGES = sorted(Path("data/images").glob("*.jpg"))


def _read(path: Path) -> tuple[pa.Table | None, ReaderStats]:
    stats = ReaderStats()
    tables = []
    for i, (p, f, s, e, g) in enumerate(file_units(str(path), "auto", 1 << 30)):
        tables.extend(read_unit(Unit(i, p, f, s, e, g), stats, 4))
    return (pa.concat_tables(tables) if tables else None), stats


def test_export_then_read_back(ray_local, tmp_path):
    pool = tmp_path / "pool.parquet"
    pq.write_table(
        pa.table(
            {
                "key": [p.stem for p in IMAGES],
                "caption": [f"photo {p.stem}" for p in IMAGES],
                "jpg": [p.read_bytes() for p in IMAGES],
                "status": ["success"] * len(IMAGES),
            }
        ),
        pool,
    )
    recipe = parse_recipe(
        {
            "name": "wds",
            "input": {"format": "img2dataset", "paths": [str(pool)]},
            "steps": [{"image_decode": {}}],
        }
    )
    run_recipe(recipe, output=str(tmp_path / "run"))
    assert (
        main(["export", str(tmp_path / "run"), "--to", str(tmp_path / "wds"), "--samples-per-shard", "4"])
        == 0
    )
    shards = sorted((tmp_path / "wds").glob("shard-*.tar"))
    assert len(shards) == 3
    back = pa.concat_tables([_read(s)[0] for s in shards])
    assert back.column("uid").to_pylist() == [p.stem for p in IMAGES]
    assert back.column("image").to_pylist() == [p.read_bytes() for p in IMAGES]
    assert back.column("caption").to_pylist() == [f"photo {p.stem}" for p in IMAGES]
    recipe = parse_recipe(
        {
            "name": "wds_in",
            "input": {"paths": [str(tmp_path / "wds" / "*.tar")]},
            "steps": [{"image_decode": {}}, {"size_filter": {"min_side": 1, "max_aspect_ratio": 10.0}}],
        }
    )
    again = run_recipe(recipe, output=str(tmp_path / "again"))
    assert again.stats["totals"]["identity_holds"] and again.manifest["total_rows"] == len(IMAGES)
    assert pads.dataset(tmp_path / "again" / "data").to_table().column("width").null_count == 0


def test_broken_tar_and_sample_without_image_are_counted(tmp_path):
    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in (
            ("a.jpg", IMAGES[0].read_bytes()),
            ("a.txt", b"cap a"),
            ("b.txt", b"caption only"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    table, stats = _read(path)
    assert table.column("uid").to_pylist() == ["a"] and dict(stats.errors) == {"wds_sample_without_image": 1}
    cut = tmp_path / "cut.tar"
    cut.write_bytes(path.read_bytes()[:1500])
    table, stats = _read(cut)
    assert table is None and sum(v for k, v in stats.errors.items() if k.startswith("broken_tar")) == 1
