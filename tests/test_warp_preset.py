"""The `warp` presets: config, composite, the one exported frame graph, avatar file fields."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liveavatar.avatar import build_avatar, load_avatar, save_avatar, warp_inverse_of
from liveavatar.config import PRESETS, ModelConfig
from liveavatar.models.checkpoint import load_checkpoint, save_checkpoint
from liveavatar.models.talking_head import TalkingHead
from liveavatar.models.warp_head import composite


def test_paper_presets_keep_their_config_and_warp_presets_round_trip() -> None:
    for name in ("paper", "lite", "tiny"):
        assert PRESETS[name].warp is None and "warp" not in PRESETS[name].to_dict()
        assert ModelConfig.from_dict(PRESETS[name].to_dict()) == PRESETS[name]
    for name in ("warp", "warp-tiny"):
        cfg = PRESETS[name]
        assert cfg.warp is not None and ModelConfig.from_dict(cfg.to_dict()) == cfg
        g = TalkingHead(cfg, discriminator=False).generator
        y = torch.zeros(2, 6, cfg.image_size, cfg.image_size)  # landmark image + warped crop
        psi = torch.zeros(2, g.layout.size)
        assert g(y, psi).shape == (2, 4, cfg.image_size, cfg.image_size)  # RGB + mask


def test_composite_takes_the_warp_where_the_mask_is_one_and_the_painting_where_it_is_zero() -> None:
    warped = torch.rand(1, 3, 8, 8) * 2 - 1
    painted = torch.rand(1, 3, 8, 8) * 2 - 1
    mask = torch.zeros(1, 1, 8, 8) - 1
    mask[..., :4] = 1  # left half: keep the portrait's pixels
    frame, m = composite(torch.cat([painted, mask], 1), warped)
    assert torch.equal(frame[..., :4], warped[..., :4]) and torch.equal(frame[..., 4:], painted[..., 4:])
    assert float(m.min()) == 0 and float(m.max()) == 1


@pytest.fixture(scope="module")
def warp_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("warp") / "warp-tiny.safetensors"
    save_checkpoint(path, TalkingHead(PRESETS["warp-tiny"], num_videos=2), {})
    return load_checkpoint(path, discriminator=False)


def test_avatar_file_stores_the_spline_and_old_files_recompute_it(warp_checkpoint, portraits, tmp_path) -> None:
    avatar = build_avatar([portraits / "photo_grace_hopper.jpg"], warp_checkpoint)
    n = 68 + 8  # landmarks + border anchors
    assert avatar.warp_inverse is not None and avatar.warp_inverse.shape == (n + 3, n + 3)
    assert avatar.crop.shape == (64, 64, 3) and avatar.landmarks.shape == (68, 2)
    back = load_avatar(save_avatar(avatar, tmp_path / "a.avatar"), warp_checkpoint.sha256)
    assert np.array_equal(back.warp_inverse, avatar.warp_inverse)
    avatar.warp_inverse = None  # as written by a build without the field
    older = load_avatar(save_avatar(avatar, tmp_path / "b.avatar"), warp_checkpoint.sha256)
    assert older.warp_inverse is None
    assert np.allclose(warp_inverse_of(older, warp_checkpoint), back.warp_inverse)


def test_exported_frame_graph_matches_pytorch_in_onnx_runtime(warp_checkpoint, portraits, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    from liveavatar.engines.warp_graph import WarpFrameIO, WarpFrameSession, export_warp_frame
    from liveavatar.render.rasterize import rasterize_landmarks

    model = warp_checkpoint.model
    avatar = build_avatar([portraits / "photo_grace_hopper.jpg"], warp_checkpoint)
    path = export_warp_frame(model, avatar.landmarks, tmp_path / "warp_frame.onnx")
    driven = np.stack([avatar.landmarks, avatar.landmarks, avatar.landmarks]).astype(np.float32)
    driven[1, 48:68, 1] += 2.0  # lips move
    driven[2] += 1.5  # the head moves
    marks = np.stack([rasterize_landmarks(d, 64) for d in driven])
    session = WarpFrameSession(path)
    session.set_avatar(avatar.psi, avatar.crop, avatar.landmarks, avatar.warp_inverse)
    frames = session(marks, driven)
    t = torch.from_numpy
    with torch.inference_mode():
        expected = WarpFrameIO(model)(
            t(marks),
            t(avatar.psi)[None].expand(3, -1),
            t(avatar.crop)[None],
            t(avatar.landmarks)[None],
            t(avatar.warp_inverse)[None],
            t(driven),
        ).numpy()
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
    assert [r["graph"].split()[0] for r in rows] == ["warp-tiny", "lite"]
    assert all(r["frames"] == 3 and r["median_ms"] > 0 and r["fps"] > 0 for r in rows)


def test_train_and_bench_accept_the_warp_presets() -> None:
    from liveavatar.cli import build_parser

    for name in ("warp", "warp-tiny"):
        args = build_parser().parse_args(["train", "--preset", name, "--data", "d", "--out", "o"])
        assert args.preset == name
