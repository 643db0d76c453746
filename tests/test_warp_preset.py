"""The `warp` presets: config, composite, the one exported frame graph, avatar file fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from liveavatar.avatar import load_avatar, save_avatar, warp_inverse_of
from liveavatar.config import PRESETS, ModelConfig
from liveavatar.engines.embedder import build_avatar
from liveavatar.errors import CheckpointError
from liveavatar.models.checkpoint import load_checkpoint, save_checkpoint
from liveavatar.models.talking_head import TalkingHead
from liveavatar.models.warp import TpsWarp, tps_inverse
from liveavatar.models.warp_head import mouth_inside, paint, warp_portrait
from liveavatar.types import WarpAvatar


def test_paper_presets_keep_their_config_and_warp_presets_round_trip() -> None:
    for name in ("paper", "lite", "tiny"):
        assert PRESETS[name].warp is None and "warp" not in PRESETS[name].to_dict()
        assert ModelConfig.from_dict(PRESETS[name].to_dict()) == PRESETS[name]
    for name in ("warp", "warp-tiny"):
        cfg = PRESETS[name]
        assert cfg.warp is not None and ModelConfig.from_dict(cfg.to_dict()) == cfg
        g = TalkingHead(cfg, discriminator=False).generator
        p = cfg.generator_size
        assert p == cfg.image_size // 2  # both paint at half size and upsample onto the warped texture
        y = torch.zeros(2, 7, p, p)  # landmark image + warped crop + the mouth's inside
        psi = torch.zeros(2, g.layout.size)
        assert g(y, psi).shape == (2, 4, p, p)  # RGB + mask


def test_a_paint_size_that_does_not_divide_the_image_is_refused() -> None:
    cfg = PRESETS["warp"].to_dict()
    cfg["warp"]["paint_size"] = 96
    with pytest.raises(CheckpointError, match="paint_size"):
        ModelConfig.from_dict(cfg)


class _FixedGenerator(torch.nn.Module):
    """Stands in for G in the composite rule's test: returns a chosen B×4×p×p output."""

    def __init__(self, out: torch.Tensor, output_size: int, mouth: bool) -> None:
        super().__init__()
        self.out, self.image_size, self.output_size, self.mouth_inside = out, out.shape[-1], output_size, mouth

    def forward(self, x: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == (7 if self.mouth_inside else 6) and x.shape[-1] == self.image_size
        return self.out


def _lips(box: tuple[float, float, float, float]) -> torch.Tensor:
    """68 points with the inner lips (60–67) on an octagon inside box (x0, y0, x1, y1); the rest at 0."""
    x0, y0, x1, y1 = box
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    pts = torch.zeros(1, 68, 2)
    ring = [(x0, ym), (xm - 2, y0), (xm, y0), (xm + 2, y0), (x1, ym), (xm + 2, y1), (xm, y1), (xm - 2, y1)]
    pts[0, 60:68] = torch.tensor(ring)
    return pts


def test_the_open_mouths_inside_is_the_inner_lips_polygon_and_empty_when_closed() -> None:
    inside = mouth_inside(_lips((10, 10, 20, 16)), 32, 32)[0, 0]
    assert inside[13, 15] == 1 and inside[13, 8] == 0 and inside[18, 15] == 0 and inside[13, 21] == 0
    assert 30 <= int(inside.sum()) <= 60  # an octagon of about 10 × 6 pixels
    half = mouth_inside(_lips((10, 10, 20, 16)), 32, 16)[0, 0]
    assert half[6, 7] == 1 and 5 <= int(half.sum()) <= 18  # the same mouth on a half-size grid
    closed = _lips((10, 13, 20, 13))  # upper and lower inner lips coincide
    assert int(mouth_inside(closed, 32, 32).sum()) == 0


def test_paint_takes_the_warp_where_the_mask_is_one_and_the_painting_where_it_is_zero() -> None:
    warped = torch.rand(1, 3, 8, 8) * 2 - 1
    painted = torch.rand(1, 3, 8, 8) * 2 - 1
    mask = torch.zeros(1, 1, 8, 8) - 1
    mask[..., :4] = 1  # left half: keep the portrait's pixels
    g = _FixedGenerator(torch.cat([painted, mask], 1), 8, mouth=False)
    frame, m = paint(g, torch.zeros(1, 3, 8, 8), warped, torch.zeros(1, 68, 2), torch.zeros(1, 4))
    assert torch.equal(frame[..., :4], warped[..., :4]) and torch.equal(frame[..., 4:], painted[..., 4:])
    assert float(m.min()) == 0 and float(m.max()) == 1


def test_paint_never_uses_the_warped_pixels_inside_an_open_mouth_and_upsamples_its_painting() -> None:
    warped = torch.rand(1, 3, 32, 32) * 2 - 1
    everywhere_warp = torch.cat([torch.zeros(1, 3, 16, 16), torch.ones(1, 1, 16, 16)], 1)  # mask 1
    g = _FixedGenerator(everywhere_warp, 32, mouth=True)
    driven = _lips((8, 8, 24, 20))
    frame, m = paint(g, torch.zeros(1, 3, 32, 32), warped, driven, torch.zeros(1, 4))
    assert frame.shape == (1, 3, 32, 32) and m.shape == (1, 1, 32, 32)
    assert float(m[0, 0, 14, 16]) < 0.05 and abs(float(frame[0, 0, 14, 16])) < 0.05  # G's (zero) painting
    assert float(m[0, 0, 2, 2]) == 1 and torch.equal(frame[..., :4, :4], warped[..., :4, :4])


def test_only_the_newly_opened_part_of_a_mouth_is_forced_to_the_painting() -> None:
    """A portrait smiling with its teeth shown: where its own open mouth lands (kept), G's mask decides
    and keeps the warped teeth; only the part of the driven mouth the portrait never showed is painted."""
    size = 32
    warped = torch.rand(1, 3, size, size) * 2 - 1
    everywhere_warp = torch.cat([torch.zeros(1, 3, 16, 16), torch.ones(1, 1, 16, 16)], 1)  # mask 1
    g = _FixedGenerator(everywhere_warp, size, mouth=True)
    driven = _lips((8, 8, 24, 22))  # opened wider than the portrait's own mouth below
    kept = mouth_inside(_lips((8, 8, 24, 14)), size, size)  # the portrait's own (moved) open mouth
    frame, m = paint(g, torch.zeros(1, 3, size, size), warped, driven, torch.zeros(1, 4), kept)
    assert float(m[0, 0, 11, 16]) == 1 and torch.equal(frame[0, :, 11, 16], warped[0, :, 11, 16])  # teeth kept
    assert float(m[0, 0, 17, 16]) < 0.05  # newly opened: painted
    # without kept (a closed portrait), the whole open mouth is painted, as before
    _, m_closed = paint(g, torch.zeros(1, 3, size, size), warped, driven, torch.zeros(1, 4))
    assert float(m_closed[0, 0, 11, 16]) < 0.05


def test_the_painting_is_as_grey_as_the_portrait() -> None:
    """G paints in colour (its training people are); on a black-and-white portrait the painted mouth must
    be grey too, and on a colour portrait G's colours stay."""
    size = 32
    red = torch.cat([torch.ones(1, 1, 16, 16), -torch.ones(1, 2, 16, 16), -torch.ones(1, 1, 16, 16)], 1)  # mask 0
    g = _FixedGenerator(red, size, mouth=False)
    grey_texture = (torch.rand(1, 1, size, size) * 2 - 1).expand(1, 3, size, size)
    frame, _ = paint(g, torch.zeros(1, 3, size, size), grey_texture, torch.zeros(1, 68, 2), torch.zeros(1, 4))
    assert float((frame.amax(1) - frame.amin(1)).max()) < 1e-5  # grey: R = G = B
    colour_texture = torch.rand(1, 3, size, size) * 2 - 1
    frame, _ = paint(g, torch.zeros(1, 3, size, size), colour_texture, torch.zeros(1, 68, 2), torch.zeros(1, 4))
    assert torch.allclose(frame[0, :, 5, 5], torch.tensor([1.0, -1.0, -1.0]))  # G's red


def _face_outline(box: tuple[float, float, float, float]) -> torch.Tensor:
    """68 points whose jaw (0–16) and brows (17–26) outline the rectangle box (x0, y0, x1, y1): the jaw down
    the left side, along the bottom and up the right, the brows along the top."""
    x0, y0, x1, y1 = box
    pts = torch.zeros(1, 68, 2)
    pts[0, 0:17] = torch.tensor([(x0, y0)] + [(x0, y1)] * 7 + [((x0 + x1) / 2, y1)] + [(x1, y1)] * 7 + [(x1, y0)])
    pts[0, 17:27] = torch.tensor([(x0 + (x1 - x0) * i / 9, y0) for i in range(10)])
    return pts


def test_the_painting_takes_the_tint_of_a_grey_face_whatever_surrounds_it() -> None:
    """A warm-white marble bust in front of a colourful backdrop (the whole crop reads as colour): G's red
    must turn to the marble's own tint, read inside the face's outline; and a colour face in front of a grey
    wall keeps G's red."""
    size = 64
    red = torch.cat([torch.ones(1, 1, 32, 32), -torch.ones(1, 2, 32, 32), -torch.ones(1, 1, 32, 32)], 1)
    g = _FixedGenerator(red, size, mouth=False)
    face = _face_outline((16, 16, 47, 47))
    inside = torch.zeros(1, 1, size, size, dtype=torch.bool)
    inside[..., 12:52, 12:52] = True  # the bust, a little wider than its face's outline
    backdrop = torch.rand(1, 3, size, size) * 2 - 1  # mean chroma about 0.5
    marble = torch.tensor([0.8, 0.75, 0.65])[None, :, None, None] * (0.8 + 0.2 * torch.rand(1, 1, size, size))
    bust = torch.where(inside, marble, backdrop)
    frame, _ = paint(g, torch.zeros(1, 3, size, size), bust, face, torch.zeros(1, 4))
    tint = marble[0, :, 20:44, 20:44].mean(dim=(1, 2))
    tint = tint - (tint * torch.tensor([0.299, 0.587, 0.114])).sum()
    painted = frame[0, :, 30, 30]
    painted = painted - (painted * torch.tensor([0.299, 0.587, 0.114])).sum()
    assert torch.allclose(painted, tint, atol=0.02)  # the marble's warmth, not G's red nor the backdrop's
    skin = torch.tensor([0.4, 0.2, 0.1])[None, :, None, None].expand(1, 3, size, size)  # chroma 0.15
    wall = torch.full((1, 3, size, size), 0.3)
    face_only = torch.zeros_like(inside)
    face_only[..., 16:48, 16:48] = True
    portrait = torch.where(face_only, skin, wall)  # the whole crop's mean chroma: 0.0375, under 0.04
    frame, _ = paint(g, torch.zeros(1, 3, size, size), portrait, face, torch.zeros(1, 4))
    assert torch.allclose(frame[0, :, 30, 30], torch.tensor([1.0, -1.0, -1.0]), atol=1e-5)  # G's red


def test_warp_portrait_moves_the_portraits_own_mouth_with_its_pixels() -> None:
    size = 64
    torch.manual_seed(0)
    source = _lips((20, 30, 44, 38)) * 2 - torch.tensor([20.0, 30.0])  # an open mouth low in the crop
    source[0, :60] = torch.rand(60, 2) * 50 + 7  # the other points anywhere inside the crop
    source[0, 60:68] = _lips((20, 40, 44, 50))[0, 60:68]
    shift = torch.tensor([3.0, -5.0])
    warp = TpsWarp(size, anchors=0, coarse=size)
    inverse = torch.from_numpy(tps_inverse(source[0].numpy(), size, anchors=0))[None].float()
    texture = torch.rand(1, 3, size, size) * 2 - 1
    warped, kept = warp_portrait(warp, texture, source, inverse, source + shift)
    own = mouth_inside(source, size, size)
    moved = torch.roll(own, shifts=(-5, 3), dims=(2, 3))  # the shift is whole pixels: moved exactly
    inner = -F.max_pool2d(-moved, 3, stride=1, padding=1)[0, 0] == 1  # inside, with all 8 neighbours
    far = F.max_pool2d(moved, 3, stride=1, padding=1)[0, 0] == 0  # outside, with no neighbour inside
    assert kept.shape == (1, 1, size, size) and warped.shape == (1, 3, size, size)
    # anti-aliased over 3×3 pixels, as paint() draws the driven mouth (so at rest the two cancel)
    assert float(kept[0, 0][inner].min()) > 0.99 and float(kept[0, 0][far].max()) < 0.01
    # Opened far wider than the portrait's own mouth, its teeth would be stretched into streaks: not kept.
    wide = source + shift
    wide[0, 65:68, 1] += 3 * (source[0, 65:68, 1] - source[0, 61:64, 1].flip(0))
    _, kept_wide = warp_portrait(warp, texture, source, inverse, wide)
    assert float(kept_wide.max()) == 0


@pytest.fixture(scope="module")
def warp_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("warp") / "warp-tiny.safetensors"
    save_checkpoint(path, TalkingHead(PRESETS["warp-tiny"], num_videos=2), {})
    return load_checkpoint(path, discriminator=False)


def test_avatar_file_stores_the_spline_and_old_files_recompute_it(warp_checkpoint, portraits, tmp_path) -> None:
    avatar = build_avatar([portraits / "photo_grace_hopper.jpg"], warp_checkpoint)
    n = 68 + 2 + 8  # landmarks, irises, border anchors
    assert avatar.warp_inverse is not None and avatar.warp_inverse.shape == (n + 3, n + 3)
    assert avatar.crop.shape == (64, 64, 3) and avatar.landmarks.shape == (68, 2)
    # Grace Hopper's irises, found by the refined mesh, each inside its eye's opening (crop pixels)
    assert avatar.irises is not None and np.isfinite(avatar.irises).all()
    for e, idx in enumerate((slice(36, 42), slice(42, 48))):
        eye = avatar.landmarks[idx]
        assert (eye.min(0) <= avatar.irises[e]).all() and (avatar.irises[e] <= eye.max(0)).all()
    # and its eyes' 16-point openings (the refined mesh's), whose corners are the 68 points', and iris radii
    assert avatar.eye_contours is not None and avatar.eye_contours.shape == (2, 16, 2)
    assert avatar.iris_radii is not None and avatar.iris_radii.shape == (2,)
    for e, (a, b) in enumerate(((36, 39), (45, 42))):  # contour points 0 and 8: outer and inner corner
        width = float(np.linalg.norm(avatar.landmarks[b] - avatar.landmarks[a]))
        assert np.linalg.norm(avatar.eye_contours[e][[0, 8]] - avatar.landmarks[[a, b]], axis=1).max() < 0.2 * width
        assert 0.1 * width < avatar.iris_radii[e] < 0.35 * width
    back = load_avatar(save_avatar(avatar, tmp_path / "a.avatar"), warp_checkpoint.sha256)
    assert np.array_equal(back.warp_inverse, avatar.warp_inverse)
    assert np.array_equal(back.irises, avatar.irises)
    assert np.array_equal(back.eye_contours, avatar.eye_contours)
    assert np.array_equal(back.iris_radii, avatar.iris_radii)
    avatar.warp_inverse = None  # as written by a build without the field
    older = load_avatar(save_avatar(avatar, tmp_path / "b.avatar"), warp_checkpoint.sha256)
    assert older.warp_inverse is None
    assert np.allclose(warp_inverse_of(older, warp_checkpoint), back.warp_inverse)


def test_an_avatar_written_before_the_irises_loads_with_none_found(warp_checkpoint, portraits, tmp_path) -> None:
    """A format-2 file from before issue 21 (no `irises`, its L⁻¹ over the 68 landmarks alone) still loads,
    without a format bump: its irises count as not found (the eyes' centres, driven with the eyes), its L⁻¹ is
    checked against its landmarks and recomputed over the 70 control points; a damaged one is still refused."""
    from dataclasses import replace

    from liveavatar.avatar import warp_avatar_of
    from liveavatar.errors import AvatarError
    from liveavatar.landmarks.irises import spline_driven, with_eye_centres

    avatar = build_avatar([portraits / "photo_grace_hopper.jpg"], warp_checkpoint)
    w = warp_checkpoint.config.warp
    old_inverse = tps_inverse(avatar.landmarks, 64, w.anchors, w.regularization)  # (68 + 8 + 3)²
    old = replace(avatar, irises=None, warp_inverse=old_inverse)
    back = load_avatar(save_avatar(old, tmp_path / "old.avatar"), warp_checkpoint.sha256)
    assert back.irises is None and back.warp_inverse is not None and back.warp_inverse.shape == (79, 79)
    warp = warp_avatar_of(back, warp_checkpoint)
    assert warp is not None and np.array_equal(warp.source, with_eye_centres(avatar.landmarks))
    assert warp.inverse.shape == (81, 81)
    assert np.allclose(warp.inverse, tps_inverse(warp.source, 64, w.anchors, w.regularization))
    assert np.array_equal(spline_driven(back.landmarks, None, back.landmarks, back.irises), warp.source)
    damaged = replace(old, warp_inverse=old_inverse + 1.0)
    with pytest.raises(AvatarError, match="does not match its landmarks"):
        warp_inverse_of(damaged, warp_checkpoint)


@pytest.mark.slow
def test_exported_frame_graph_matches_pytorch_in_onnx_runtime(warp_checkpoint, portraits, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    from liveavatar.engines.ort_engine import OrtEngine
    from liveavatar.engines.warp_graph import WarpFrameIO, export_warp_frame
    from liveavatar.landmarks.irises import spline_source
    from liveavatar.render.rasterize import rasterize_landmarks

    model = warp_checkpoint.model
    avatar = build_avatar([portraits / "photo_grace_hopper.jpg"], warp_checkpoint)
    path = export_warp_frame(model, avatar.landmarks, tmp_path / "warp_frame.onnx")
    control = spline_source(avatar.landmarks, avatar.irises)  # 70×2: the landmarks and the irises
    driven = np.stack([control, control, control]).astype(np.float32)
    driven[1, 48:68, 1] += 2.0  # lips move
    driven[1, 68:70, 0] += 0.5  # the eyes look right
    driven[2] += 1.5  # the head moves
    marks = np.stack([rasterize_landmarks(d[:68], 64) for d in driven])
    warp = WarpAvatar(avatar.crop, control, avatar.warp_inverse)
    frames = OrtEngine(path).infer(marks, np.repeat(avatar.psi[None], 3, axis=0), warp, driven)
    t = torch.from_numpy
    with torch.inference_mode():
        expected = WarpFrameIO(model)(
            t(marks),
            t(avatar.psi)[None].expand(3, -1),
            t(avatar.crop)[None],
            t(control)[None],
            t(avatar.warp_inverse)[None],
            t(driven),
        )[0].numpy()  # the frames; the layers' parity is tests/test_warp_live.py's
    assert frames.shape == (3, 64, 64, 3) and frames.dtype == np.uint8
    diff = np.abs(frames.astype(int) - expected.astype(int))
    assert diff.max() <= 2 and (diff > 0).mean() < 0.01
    assert not np.array_equal(frames[0], frames[2])  # the driven points reach the output


@pytest.mark.slow
def test_bench_times_the_warp_frame_graph_beside_lite(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    import json

    from liveavatar.cli import main

    out = tmp_path / "bench.json"
    assert main(["bench", "--preset", "warp-tiny", "--frames", "3", "--threads", "1", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["graph"].split()[0] for r in rows] == ["warp-tiny", *["compose"] * 4, "lite"]  # 720p, 1080p
    assert all(r["frames"] == 3 and r["median_ms"] > 0 and r["fps"] > 0 for r in rows)


def test_train_and_bench_accept_the_warp_presets() -> None:
    from liveavatar.cli import build_parser

    for name in ("warp", "warp-tiny"):
        args = build_parser().parse_args(["train", "--preset", name, "--data", "d", "--out", "o"])
        assert args.preset == name
