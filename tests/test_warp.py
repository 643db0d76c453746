"""The thin-plate-spline warp: identity, a known shift, a real landmark move, numpy/torch agreement, ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liveavatar.models.warp import TpsWarp, tps_inverse, tps_inverse_torch

SIZE = 64


def _points(seed: int = 0) -> np.ndarray:
    """64 points on a jittered 6 px grid inside the crop (a face's landmarks are not a regular grid either)."""
    rng = np.random.default_rng(seed)
    c = np.arange(8) * 6.0 + 11
    grid = np.stack(np.meshgrid(c, c), axis=-1).reshape(-1, 2)
    return (grid + rng.uniform(-1, 1, size=grid.shape)).astype(np.float32)


def _texture(seed: int = 1) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(-1, 1, size=(1, 3, SIZE, SIZE)).astype(np.float32))


def _warp(warp, texture, source, inverse, driven):
    t = torch.from_numpy
    return warp(texture, t(source)[None], t(inverse)[None], t(driven)[None])


def test_identity_warp_returns_the_texture_unchanged() -> None:
    source = _points()
    texture = _texture()
    warped, grid = _warp(TpsWarp(SIZE), texture, source, tps_inverse(source, SIZE), source)
    assert torch.allclose(warped, texture, atol=1e-5)


@pytest.mark.parametrize("dx,dy", [(3, 0), (0, -5), (2, 4)])
def test_a_known_shift_moves_every_pixel_by_that_shift(dx: int, dy: int) -> None:
    # Without border anchors a translation of all landmarks is an exact affine map: every pixel moves.
    source = _points()
    texture = _texture()
    driven = source + np.float32([dx, dy])
    warp = TpsWarp(SIZE, anchors=0)
    warped, _ = _warp(warp, texture, source, tps_inverse(source, SIZE, anchors=0), driven)
    ys = slice(max(dy, 0), SIZE + min(dy, 0))
    xs = slice(max(dx, 0), SIZE + min(dx, 0))
    moved = texture[..., max(-dy, 0) : SIZE - max(dy, 0), max(-dx, 0) : SIZE - max(dx, 0)]
    assert torch.allclose(warped[..., ys, xs], moved, atol=1e-2)  # noise texture: 1e-2 ≈ 0.005 px
    assert not torch.allclose(warped, texture, atol=1e-2)


def test_with_border_anchors_the_landmarks_move_and_the_corners_stay() -> None:
    source = _points()
    driven = source.copy()
    driven[30] += np.float32([3, 0])  # one landmark (as a nose tip would) moves 3 px to the right
    texture = torch.zeros(1, 2, SIZE, SIZE)
    # texture channels hold each pixel's own x and y: the warp's output then says where it sampled from
    c = torch.arange(SIZE, dtype=torch.float32)
    texture[0, 0] = c[None, :].expand(SIZE, SIZE)
    texture[0, 1] = c[:, None].expand(SIZE, SIZE)
    warped, _ = _warp(TpsWarp(SIZE, coarse=SIZE, steps=8), texture, source, tps_inverse(source, SIZE), driven)
    x, y = np.round(driven[30]).astype(int)
    sampled = warped[0, :, y, x].numpy()
    # 0.3 px: the landmark sits between pixels and the map stretches there (unmoved would be 3 px off)
    assert np.allclose(sampled, source[30] + (np.round(driven[30]) - driven[30]), atol=0.3)
    assert np.allclose(warped[0, :, 0, 0].numpy(), [0, 0], atol=0.05)


def test_numpy_and_torch_inverses_agree() -> None:
    source = _points(3)
    a = tps_inverse(source, SIZE, regularization=1e-3)
    b = tps_inverse_torch(torch.from_numpy(source)[None], SIZE, regularization=1e-3)[0].numpy()
    assert np.allclose(a, b, atol=1e-3 * np.abs(a).max())


def test_exported_warp_matches_pytorch_in_onnx_runtime(tmp_path) -> None:
    ort = pytest.importorskip("onnxruntime")
    source = _points()
    driven = source + np.random.default_rng(5).normal(0, 2, source.shape).astype(np.float32)
    inverse = tps_inverse(source, SIZE, regularization=1e-3)
    texture = _texture()
    warp = TpsWarp(SIZE).eval()
    args = (texture, torch.from_numpy(source)[None], torch.from_numpy(inverse)[None], torch.from_numpy(driven)[None])
    path = tmp_path / "warp.onnx"
    torch.onnx.export(
        warp,
        args,
        str(path),
        input_names=["texture", "source", "inverse", "driven"],
        output_names=["warped", "grid"],
        opset_version=18,
        dynamo=True,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: a.numpy() for name, a in zip(["texture", "source", "inverse", "driven"], args, strict=True)}
    warped, grid = session.run(None, feeds)
    with torch.inference_mode():
        expected, expected_grid = warp(*args)
    assert np.abs(grid - expected_grid.numpy()).max() * SIZE / 2 < 0.02  # in pixels
    assert np.abs(warped - expected.numpy()).max() < 2e-2  # noise texture: 2e-2 ≈ 0.01 px
