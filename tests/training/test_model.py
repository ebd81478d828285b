"""Model assembly: encoders by local path (open_clip and HF CLIP), projectors, image placement, dummy image."""

from __future__ import annotations

import pytest
import torch

from training.config import LMConfig, ModelConfig, ProjectorConfig, VisionConfig
from training.model.build import build_vlm
from training.model.projector import PROJECTORS, build_projector, load_projector_into, save_projector
from training.model.vlm import IMAGE_TOKEN_ID


@pytest.fixture(scope="module", params=["open_clip", "hf"])
def model(request, workdir):
    name = workdir / "toy" / ("open_clip" if request.param == "open_clip" else "hf_clip")
    cfg = ModelConfig(
        vision=VisionConfig(source=request.param, name=str(name), pretrained=None, layer=-2),
        projector=ProjectorConfig(type="mlp2x_gelu"),
        lm=LMConfig(name=str(workdir / "toy" / "lm")),
    )
    return build_vlm(cfg, seed=0)[0]


def test_patch_tokens_from_chosen_layer(model):
    pixels = torch.randn(2, 3, model.vision.image_size, model.vision.image_size)
    feats = model.vision(pixels)
    assert feats.shape == (2, model.vision.num_patches, model.vision.hidden_size)
    assert model.vision.layer == 0  # -2 of a 2-block encoder


def test_images_enter_at_their_positions(model):
    n = model.vision.num_patches
    ids = torch.tensor([[5, 6] + [IMAGE_TOKEN_ID] * n + [7, 8]])
    mask = torch.ones_like(ids)
    size = model.vision.image_size
    a, b = torch.randn(1, 3, size, size), torch.randn(1, 3, size, size)
    with torch.no_grad():
        la, lb = model(ids, mask, a), model(ids, mask, b)
    assert torch.equal(la[:, :2], lb[:, :2])  # causal: positions before the image do not see it
    assert not torch.allclose(la[:, 2:], lb[:, 2:])
    with pytest.raises(ValueError, match="image-token positions"):
        model(ids, mask, torch.cat([a, b]))


def test_text_only_batch_still_runs_the_vision_tower(model):
    """The zero-weighted dummy image keeps every parameter in the graph (needed by ZeRO-3)."""
    ids = torch.tensor([[5, 6, 7]])
    model.zero_grad(set_to_none=True)
    logits = model(ids, torch.ones_like(ids), None)
    logits.sum().backward()
    for name, p in list(model.vision.named_parameters()) + list(model.projector.named_parameters()):
        if p.requires_grad:
            assert p.grad is not None, name
            assert torch.count_nonzero(p.grad) == 0, name
    with torch.no_grad():
        assert torch.equal(model(ids, torch.ones_like(ids), None), model.lm(input_ids=ids).logits)


def test_projector_registry_and_handoff_roundtrip(tmp_path):
    assert {"linear", "mlp2x_gelu"} <= set(PROJECTORS)
    proj = build_projector("mlp2x_gelu", 8, 4)
    save_projector(proj.state_dict(), "mlp2x_gelu", 8, 4, tmp_path / "p")
    other = build_projector("mlp2x_gelu", 8, 4)
    load_projector_into(other, "mlp2x_gelu", tmp_path / "p")
    assert all(
        torch.equal(a, b)
        for a, b in zip(proj.state_dict().values(), other.state_dict().values(), strict=True)
    )
    with pytest.raises(ValueError, match="does not match"):
        load_projector_into(build_projector("linear", 8, 4), "linear", tmp_path / "p")
    with pytest.raises(ValueError, match="unknown projector type 'mlp3x'"):
        build_projector("mlp3x", 8, 4)


def test_a_handoff_write_cut_short_leaves_the_previous_handoff_intact(tmp_path, monkeypatch):
    """A stage-1 run killed while writing its hand-off left a partial weights file that stage 2 then loaded."""
    import training.model.projector as projector
    from training.model.projector import PROJECTOR_FILE, PROJECTOR_META, check_projector_artifact

    old = build_projector("linear", 8, 4)
    save_projector(old.state_dict(), "linear", 8, 4, tmp_path / "p")
    before = {p.name: p.read_bytes() for p in (tmp_path / "p").iterdir()}
    real_save_file = projector.save_file

    def cut_short(tensors, filename):  # the writer dies half-way through the new weights
        real_save_file(tensors, filename)
        with open(filename, "r+b") as fh:
            fh.truncate(fh.seek(0, 2) // 2)
        raise OSError("killed while writing")

    monkeypatch.setattr(projector, "save_file", cut_short)
    with pytest.raises(OSError, match="killed while writing"):
        save_projector(build_projector("mlp2x_gelu", 8, 4).state_dict(), "mlp2x_gelu", 8, 4, tmp_path / "p")
    with pytest.raises(OSError, match="killed while writing"):
        save_projector(old.state_dict(), "linear", 8, 4, tmp_path / "first")
    assert {p.name: p.read_bytes() for p in (tmp_path / "p").iterdir()} == before  # no temporary file left
    assert not (tmp_path / "first").exists() or not any((tmp_path / "first").iterdir())
    assert check_projector_artifact(tmp_path / "p", "linear") == {
        "type": "linear",
        "vision_dim": 8,
        "lm_dim": 4,
    }
    loaded = build_projector("linear", 8, 4)
    load_projector_into(loaded, "linear", tmp_path / "p")
    assert all(
        torch.equal(a, b)
        for a, b in zip(old.state_dict().values(), loaded.state_dict().values(), strict=True)
    )

    monkeypatch.setattr(projector, "save_file", real_save_file)  # a rerun replaces it with a complete one
    new = build_projector("mlp2x_gelu", 8, 4)
    save_projector(new.state_dict(), "mlp2x_gelu", 8, 4, tmp_path / "p")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == sorted([PROJECTOR_FILE, PROJECTOR_META])
    load_projector_into(build_projector("mlp2x_gelu", 8, 4), "mlp2x_gelu", tmp_path / "p")


def test_weights_without_their_meta_are_an_incomplete_handoff(tmp_path):
    """Weights whose meta was never written (a writer stopped between the two) are refused with a clear line."""
    from training.model.projector import PROJECTOR_META, check_projector_artifact

    save_projector(build_projector("linear", 8, 4).state_dict(), "linear", 8, 4, tmp_path / "p")
    (tmp_path / "p" / PROJECTOR_META).unlink()
    with pytest.raises(FileNotFoundError, match="an incomplete hand-off"):
        check_projector_artifact(tmp_path / "p", "linear")


@pytest.mark.parametrize(
    ("warmup", "total", "min_lr_rate"), [(0, 6, 0.0), (2, 6, 0.0), (3, 12, 0.1), (1, 1, 0.5)]
)
def test_cosine_schedule_matches_transformers(warmup, total, min_lr_rate):
    """The trainer's warmup + cosine schedule gives transformers' factors at every step, also after a resume
    from its state_dict."""
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    from training.engine import cosine_schedule

    def optimizer():
        params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
        return torch.optim.SGD([{"params": params[:1], "lr": 1e-3}, {"params": params[1:], "lr": 2e-4}])

    ours = cosine_schedule(optimizer(), warmup, total, min_lr_rate)
    theirs = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer(), num_warmup_steps=warmup, num_training_steps=total, min_lr_rate=min_lr_rate
    )
    got, expected = [], []
    for step in range(total + 2):
        got += ours.get_last_lr()
        expected += theirs.get_last_lr()
        ours.optimizer.step(), theirs.optimizer.step()
        ours.step(), theirs.step()
        if step == total // 2:  # resume: a fresh schedule loads the saved state
            state = ours.state_dict()
            ours = cosine_schedule(optimizer(), warmup, total, min_lr_rate)
            ours.load_state_dict(state)
            for group, lr in zip(ours.optimizer.param_groups, ours.get_last_lr(), strict=True):
                group["lr"] = lr
    assert got == pytest.approx(expected, abs=1e-15)
    assert len(set(got)) > 2  # the schedule moves
