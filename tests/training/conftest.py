"""Fixtures for the trainer tests: tiny offline models, shards written by the curation writer, a launcher helper.

Inputs are always written with `curation.io.shards.write_table_shards` (the curation writer). COCO-mini images
are read from `<repo>/../shared/data` and only ever written to pytest's tmp dirs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from PIL import Image, ImageDraw

from curation.io.shards import write_table_shards
from curation.rows import CONVERSATION, PAIR, PREFERENCE
from tests.cli_process import communicate_or_kill

REPO = Path(__file__).resolve().parents[2]
# like tests/conftest.py: MMCURATE_SHARED_DATA overrides the default <repo>/../shared/data
SHARED_DATA = Path(os.environ.get("MMCURATE_SHARED_DATA", REPO.parent / "shared" / "data"))
COCO = SHARED_DATA / "images" / "coco_mini"
CONFIGS = REPO / "training" / "configs"
LAUNCH_TIMEOUT = 420
COLORS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30), "yellow": (230, 220, 20)}


def png(color: tuple[int, int, int], size: int = 40) -> bytes:
    image = Image.new("RGB", (size, size), (255, 255, 255))
    ImageDraw.Draw(image).rectangle([size // 4, size // 4, 3 * size // 4, 3 * size // 4], fill=color)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def coco_pairs(limit: int) -> pa.Table:
    """Real COCO-mini train images with their first caption, as a `pair` table."""
    if not COCO.is_dir():
        pytest.skip(f"COCO-mini not found at {COCO} (needs the shared data checkout next to the repo)")
    ann = json.loads((COCO / "annotations" / "captions_train2017.json").read_text())
    captions: dict[int, str] = {}
    for a in sorted(ann["annotations"], key=lambda a: a["id"]):
        captions.setdefault(a["image_id"], a["caption"].strip())
    rows = []
    for img in sorted(ann["images"], key=lambda i: i["id"]):
        path = COCO / "train2017" / img["file_name"]
        if img["id"] in captions and path.is_file():
            rows.append(
                (str(img["id"]), img.get("coco_url", ""), captions[img["id"]], path.read_bytes(), img)
            )
        if len(rows) == limit:
            break
    return pa.Table.from_pydict(
        {
            "uid": [r[0] for r in rows],
            "url": [r[1] for r in rows],
            "caption": [r[2] for r in rows],
            "image": [r[3] for r in rows],
            "width": [r[4]["width"] for r in rows],
            "height": [r[4]["height"] for r in rows],
        },
        schema=PAIR,
    )


def conversation_table(n: int) -> pa.Table:
    """Alternating image and text-only conversations (row 2i has an image, row 2i+1 has none)."""
    names = list(COLORS)
    ids, images, messages = [], [], []
    for i in range(n):
        color = names[i % len(names)]
        ids.append(f"conv-{i}")
        if i % 2 == 0:
            images.append([png(COLORS[color])])
            messages.append(
                [
                    {"role": "user", "content": "<image>\nwhat color is the square?"},
                    {"role": "assistant", "content": f"the answer is {color}."},
                    {"role": "user", "content": "describe the picture in one sentence please"},
                    {"role": "assistant", "content": f"a photo of a {color} square on a white background"},
                ]
            )
        else:
            images.append([])
            messages.append(
                [
                    {"role": "system", "content": "you are a helpful assistant"},
                    {"role": "user", "content": f"say {color}"},
                    {"role": "assistant", "content": f"{color}"},
                ]
            )
    return pa.Table.from_pydict({"id": ids, "images": images, "messages": messages}, schema=CONVERSATION)


def preference_table(n: int) -> pa.Table:
    names = list(COLORS)
    rows = {"id": [], "images": [], "prompt": [], "chosen": [], "rejected": []}
    for i in range(n):
        color, wrong = names[i % len(names)], names[(i + 1) % len(names)]
        rows["id"].append(f"pref-{i}")
        rows["images"].append([png(COLORS[color])])
        rows["prompt"].append([{"role": "user", "content": "<image>\nwhat color is the square?"}])
        rows["chosen"].append(f"the answer is {color}.")
        rows["rejected"].append(f"the answer is {wrong}.")
    return pa.Table.from_pydict(rows, schema=PREFERENCE)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """A directory holding `toy/` (tiny models, as the tiny configs expect) and `data/`."""
    from training.toy import build_toy_models

    root = tmp_path_factory.mktemp("train")
    build_toy_models(root / "toy")
    return root


@pytest.fixture(scope="session")
def coco_dir(workdir) -> Path:
    out = workdir / "data" / "coco_pairs"
    if not out.exists():
        write_table_shards(coco_pairs(24), out, shard_rows=10)
    return out


@pytest.fixture(scope="session")
def conv_dir(workdir) -> Path:
    out = workdir / "data" / "conversations"
    if not out.exists():
        write_table_shards(conversation_table(16), out, shard_rows=6)
    return out


@pytest.fixture(scope="session")
def pref_dir(workdir) -> Path:
    out = workdir / "data" / "preferences"
    if not out.exists():
        write_table_shards(preference_table(8), out, shard_rows=4)
    return out


def train_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"})
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    # DeepSpeed JIT-builds its CPU all-reduce op on first use; a cache per virtualenv keeps checkouts with
    # different venv paths from rebuilding (and waiting on) one shared build directory
    env.setdefault("TORCH_EXTENSIONS_DIR", str(Path(sys.prefix) / "torch_extensions"))
    return env


def shm_buffers() -> set[str]:
    """DeepSpeed CPU all-reduce buffers currently in /dev/shm (RAM that nothing frees until they are unlinked)."""
    return {p.name for p in Path("/dev/shm").glob("deepspeed_allreduce_buffer_*")}


def start_train(workdir: Path, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    """Start the `train` CLI (as `python -m training.cli`) in `workdir`, in a session of its own (pid = sid)."""
    cmd = [sys.executable, "-m", "training.cli", *args]
    env = {**train_env(), **(env or {})}
    return subprocess.Popen(cmd, cwd=workdir, env=env, text=True, start_new_session=True, **popen)


def run_train(workdir: Path, *args: str, env: dict | None = None, timeout: int = LAUNCH_TIMEOUT):
    """Run the `train` CLI (as `python -m training.cli`) in `workdir`.

    Never hangs past `timeout`: on expiry the whole process group (launcher and ranks) is killed, so no orphaned
    rank keeps loading the machine for the tests after it. Asserts the run left no shared-memory buffers behind.
    """
    before = shm_buffers()
    with start_train(workdir, *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        stdout, stderr = communicate_or_kill(proc, timeout)
    leaked = shm_buffers() - before
    assert not leaked, f"the run left shared-memory buffers in /dev/shm: {sorted(leaked)}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def launch(workdir: Path, config: str, *overrides: str, ranks: int = 2, resume: bool = False, env=None):
    """`train launch CONFIG --num-gpus RANKS [--resume] overrides...` with a copy of the shipped CONFIG placed in
    `workdir`, so that its relative paths (toy/, data/, runs/) resolve there."""
    local = workdir / config
    local.write_text((CONFIGS / config).read_text())
    args = [
        "launch",
        str(local),
        "--num-gpus",
        str(ranks),
        *(["--resume"] if resume else []),
        *overrides,
    ]
    return run_train(workdir, *args, env=env)


def assert_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, (
        f"exit {proc.returncode}\nSTDOUT:\n{proc.stdout[-6000:]}\nSTDERR:\n{proc.stderr[-6000:]}"
    )
