"""Checkpoint save → load round trip and the errors for wrong versions and configs."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from liveavatar.config import PRESETS
from liveavatar.errors import CheckpointError
from liveavatar.models.checkpoint import load_checkpoint, resolve_checkpoint, save_checkpoint
from liveavatar.models.talking_head import TalkingHead


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = TalkingHead(PRESETS["tiny"], num_videos=3)
    path = tmp_path / "tiny.safetensors"
    sha = save_checkpoint(path, model, {"steps": 7, "losses": ["l1"]})
    return path, sha, model


def test_round_trip_reproduces_outputs(tiny_checkpoint):
    path, sha, model = tiny_checkpoint
    loaded = load_checkpoint(path)
    assert loaded.sha256 == sha and loaded.config == PRESETS["tiny"]
    assert loaded.training == {"steps": 7, "losses": ["l1"]}
    assert loaded.model.num_videos == 3
    s = PRESETS["tiny"].image_size
    y = torch.rand(2, 3, s, s) * 2 - 1
    frames = torch.rand(2, 1, 3, s, s) * 2 - 1
    model.eval()
    with torch.no_grad():
        expected = model.generator(y, model.psi(frames, y[:, None]))
        got = loaded.model.generator(y, loaded.model.psi(frames, y[:, None]))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_spectral_reload_matches_folded_weights(tmp_path):
    """Reloading folded weights under spectral norm (fine-tuning) keeps what the network computes.

    Holds once the power iteration has converged, as in any trained model (one iteration per step): the
    folded weights then have σ = 1 and renormalising them is the identity.
    """
    torch.manual_seed(3)
    model = TalkingHead(PRESETS["tiny"], num_videos=1).train()
    s = PRESETS["tiny"].image_size
    with torch.no_grad():
        x = torch.rand(1, 1, 3, s, s)
        for _ in range(60):
            model.generator(x[:, 0], model.psi(x, x))
            model.discriminator(x[:, 0], x[:, 0], torch.zeros(1, dtype=torch.long))
    path = tmp_path / "converged.safetensors"
    save_checkpoint(path, model)
    plain = dict(load_checkpoint(path).model.named_modules())
    spectral = load_checkpoint(path, spectral=True).model
    compared = 0
    for name, module in spectral.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and "parametrizations" not in name:
            with torch.no_grad():
                torch.testing.assert_close(module.weight, plain[name].weight, rtol=0, atol=5e-3)
            compared += 1
    assert compared > 50


def _rewrite(path, out, **meta_changes):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    meta.update(meta_changes)
    save_file(load_file(str(path)), str(out), metadata=meta)


def test_unknown_format_version_names_both_versions(tiny_checkpoint, tmp_path):
    path, _, _ = tiny_checkpoint
    _rewrite(path, tmp_path / "v9.safetensors", format_version="9")
    with pytest.raises(CheckpointError, match="format version 9; this LiveAvatar reads version 1"):
        load_checkpoint(tmp_path / "v9.safetensors")


def test_mismatched_config_names_both(tiny_checkpoint):
    path, _, _ = tiny_checkpoint
    with pytest.raises(CheckpointError, match="preset 'tiny'.*expected preset 'lite'"):
        load_checkpoint(path, expected=PRESETS["lite"])


def test_config_that_does_not_fit_the_weights(tiny_checkpoint, tmp_path):
    path, _, _ = tiny_checkpoint
    cfg = dataclasses.replace(PRESETS["tiny"], generator=dataclasses.replace(PRESETS["tiny"].generator, res_blocks=2))
    _rewrite(path, tmp_path / "bad.safetensors", config=json.dumps(cfg.to_dict()))
    with pytest.raises(CheckpointError, match="does not match its own config"):
        load_checkpoint(tmp_path / "bad.safetensors")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage"])
def test_corrupt_file_is_a_clear_error(tmp_path, content):
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match="corrupt.safetensors"):
        load_checkpoint(bad)


def test_foreign_safetensors_file_is_rejected(tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a LiveAvatar checkpoint"):
        load_checkpoint(other)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_resolve_prefers_the_users_path(tmp_path):
    assert resolve_checkpoint(tmp_path / "x.safetensors") == tmp_path / "x.safetensors"
