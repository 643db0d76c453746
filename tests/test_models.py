"""Shapes, value ranges and invariants of E, G, P, D for every preset."""

from __future__ import annotations

import copy

import pytest
import torch

from liveavatar.config import PRESETS, ModelConfig, preset
from liveavatar.models.adain_layout import layout_for
from liveavatar.models.blocks import has_spectral_norm
from liveavatar.models.talking_head import TalkingHead


def _inputs(cfg: ModelConfig, batch: int = 2, k: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    s = cfg.image_size
    frames = torch.rand(batch, k, 3, s, s, generator=g) * 2 - 1
    landmarks = torch.rand(batch, k, 3, s, s, generator=g) * 2 - 1
    return frames, landmarks


def test_tiny_networks_shapes_and_ranges():
    cfg = PRESETS["tiny"]
    torch.manual_seed(0)
    model = TalkingHead(cfg, num_videos=4).eval()
    frames, landmarks = _inputs(cfg)
    with torch.no_grad():
        e = model.embedder(frames, landmarks)
        psi = model.projection(e)
        out = model.generator(landmarks[:, 0], psi)
        scores, feats = model.discriminator(frames[:, 0], landmarks[:, 0], torch.tensor([0, 3]))
    assert e.shape == (2, cfg.embedding_dim)
    assert psi.shape == (2, layout_for(cfg.generator).size)
    assert out.shape == (2, 3, cfg.image_size, cfg.image_size)
    assert out.min() >= -1 and out.max() <= 1
    assert scores.shape == (2,)
    assert len(feats) == len(cfg.discriminator.channels) + 1
    assert all(torch.isfinite(f).all() for f in feats)


@pytest.mark.parametrize("name", ["lite", "paper"])
def test_full_size_generator_shapes(name):
    """Lite and paper at batch 1 with folded weights: the output is S×S RGB in [-1, 1]."""
    cfg = PRESETS[name]
    model = TalkingHead(cfg, discriminator=False, spectral=False).eval()
    s = cfg.image_size
    with torch.inference_mode():
        out = model.generator(torch.zeros(1, 3, s, s), torch.randn(1, model.psi_size) * 0.1)
    assert out.shape == (1, 3, s, s)
    assert float(out.abs().max()) <= 1.0


def test_embedder_averages_over_k_frames():
    cfg = PRESETS["tiny"]
    model = TalkingHead(cfg, discriminator=False).eval()
    frames, landmarks = _inputs(cfg, batch=1, k=4)
    with torch.no_grad():
        averaged = model.embedder(frames, landmarks)
        each = model.embedder.embed_frames(frames[0], landmarks[0])
    torch.testing.assert_close(averaged[0], each.mean(0), rtol=1e-5, atol=1e-5)


def test_psi_precomputed_equals_psi_in_graph():
    """ψ computed once per avatar and fed to G equals running E, P and G in one graph."""
    cfg = PRESETS["tiny"]
    torch.manual_seed(1)
    model = TalkingHead(cfg, discriminator=False).eval()
    frames, landmarks = _inputs(cfg, batch=1, k=2)
    target_landmarks = landmarks[:, 0]
    with torch.no_grad():
        cached_psi = model.psi(frames, landmarks).clone()
        from_cache = model.generator(target_landmarks, cached_psi)
        in_graph = model.generator(target_landmarks, model.projection(model.embedder(frames, landmarks)))
    torch.testing.assert_close(from_cache, in_graph, rtol=0, atol=0)


def test_psi_changes_the_output():
    """ψ really drives G: two avatars give two different frames for the same landmark image."""
    cfg = PRESETS["tiny"]
    model = TalkingHead(cfg, discriminator=False).eval()
    y = torch.rand(1, 3, cfg.image_size, cfg.image_size) * 2 - 1
    with torch.no_grad():
        a = model.generator(y, torch.zeros(1, model.psi_size))
        b = model.generator(y, torch.randn(1, model.psi_size))
    assert (a - b).abs().max() > 1e-3


def test_folding_spectral_norm_changes_outputs_only_by_rounding():
    cfg = PRESETS["tiny"]
    torch.manual_seed(2)
    model = TalkingHead(cfg, num_videos=2)
    frames, landmarks = _inputs(cfg, batch=2, k=2)
    model.train()
    for _ in range(3):  # a few power iterations so u, v are not at their random start
        model.generator(landmarks[:, 0], model.psi(frames, landmarks))
    model.eval()
    with torch.no_grad():
        before = model.generator(landmarks[:, 0], model.psi(frames, landmarks))
        d_before, _ = model.discriminator(frames[:, 0], landmarks[:, 0], torch.tensor([0, 1]))
    folded = copy.deepcopy(model).fold_spectral_norm()
    assert has_spectral_norm(model) and not has_spectral_norm(folded)
    with torch.no_grad():
        after = folded.generator(landmarks[:, 0], folded.psi(frames, landmarks))
        d_after, _ = folded.discriminator(frames[:, 0], landmarks[:, 0], torch.tensor([0, 1]))
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(d_after, d_before, rtol=1e-4, atol=1e-4)


def test_adain_layout_is_named_and_contiguous():
    layout = layout_for(PRESETS["lite"].generator)
    names = [e.name for e in layout.entries]
    assert names[0] == "res0.norm1" and names[-1] == "head.norm"
    assert len(set(names)) == len(names)
    offset = 0
    for entry in layout.entries:
        assert entry.offset == offset
        offset += 2 * entry.channels
    assert offset == layout.size
    psi = torch.arange(layout.size, dtype=torch.float32)[None]
    scale, shift = layout.split(psi)["head.norm"]
    assert shift[0, -1] == layout.size - 1


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        preset("huge")


def test_lite_generator_fits_the_live_budget():
    """The lite preset exists to run live on a CPU: its generator stays at or under 4 GFLOPs a frame."""
    from liveavatar.models.flops import model_summary

    summary = model_summary(PRESETS["lite"])
    assert 0.5 < summary["generator"]["gflops"] <= 4.0
