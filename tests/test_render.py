"""Render: the face crop and its inverse, THE landmark rasterizer, paste-back and backgrounds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from conftest import read_rgb

from liveavatar.landmarks import PARTS, FaceTracker
from liveavatar.render import (
    CropBox,
    CropBoxSmoother,
    crop_from_box,
    draw_landmarks_overlay,
    face_crop,
    paste_back,
    place_on_background,
    rasterize_landmarks,
)
from liveavatar.render.composite import crop_mask
from liveavatar.render.rasterize import line_thickness


@pytest.fixture(scope="module")
def obama(portraits: Path) -> tuple[np.ndarray, np.ndarray]:
    """A real portrait (H×W×3 uint8 RGB) and its 68 landmarks in frame pixels."""
    image = read_rgb(portraits / "photo_barack_obama.jpg")
    with FaceTracker("image") as tracker:
        landmarks = tracker.track(image).landmarks
    return image, landmarks.points68


def _linear_ramp(width: int, height: int) -> np.ndarray:
    """R = x/4, G = y/4, B = 0: bilinear sampling of it is exact, so warps can be checked to the pixel."""
    xs, ys = np.meshgrid(np.arange(width), np.arange(height))
    return np.dstack([xs / 4, ys / 4, np.zeros_like(xs)]).round().astype(np.uint8)


# ---- crop ----------------------------------------------------------------------------------------------


def test_face_crop_frames_the_whole_face(obama: tuple[np.ndarray, np.ndarray]) -> None:
    _, points = obama
    crop = face_crop(points, 256)
    assert crop.matrix.shape == (2, 3) and crop.matrix.dtype == np.float64
    assert crop.inverse.shape == (2, 3) and crop.size == 256
    p = crop.points_to_crop(points)
    assert p.dtype == np.float32
    # All landmarks inside with room for hair and chin; forehead gets more room than the neck.
    assert (p > 0.1 * 256).all() and (p < 0.9 * 256).all()
    top_room, bottom_room = p[:, 1].min(), 256 - p[:, 1].max()
    assert top_room > bottom_room
    assert abs(p[:, 0].min() - (256 - p[:, 0].max())) < 2  # horizontally centred
    assert np.isclose(crop.matrix[0, 0], crop.matrix[1, 1])  # square and upright: no shear, no roll
    assert crop.matrix[0, 1] == 0 and crop.matrix[1, 0] == 0


def test_crop_point_round_trip_is_identity() -> None:
    crop = crop_from_box(CropBox(cx=321.7, cy=240.2, side=173.3), 256)
    points = np.random.default_rng(0).uniform(-500, 1500, (100, 2))
    np.testing.assert_allclose(crop.points_to_frame(crop.points_to_crop(points)), points, atol=1e-3)
    corners = crop.points_to_crop(np.array([[321.7 - 86.65, 240.2 - 86.65], [321.7 + 86.65, 240.2 + 86.65]]))
    np.testing.assert_allclose(corners, [[-0.5, -0.5], [255.5, 255.5]], atol=1e-3)  # box edge = pixel edge


@pytest.mark.parametrize("side", [173.3, 900.0])  # upscaling, and strong downscaling (pyramid path)
def test_warp_samples_the_frame_where_the_matrix_says(side: float) -> None:
    frame = _linear_ramp(1000, 900)
    crop = crop_from_box(CropBox(cx=480.3, cy=455.6, side=side), 128)
    warped = crop.warp(frame)
    assert warped.shape == (128, 128, 3) and warped.dtype == np.uint8
    ys, xs = np.mgrid[8:120:7, 8:120:7]  # interior: away from the replicated border
    at = crop.points_to_frame(np.stack([xs.ravel(), ys.ravel()], axis=1))
    inside = (at[:, 0] > 4) & (at[:, 0] < 995) & (at[:, 1] > 4) & (at[:, 1] < 895)
    got = warped[ys.ravel(), xs.ravel()].astype(np.float32)
    np.testing.assert_allclose(got[inside, 0], at[inside, 0] / 4, atol=1.01)
    np.testing.assert_allclose(got[inside, 1], at[inside, 1] / 4, atol=1.01)


def test_warp_replicates_the_border_beyond_the_frame() -> None:
    frame = np.full((200, 300, 3), 200, np.uint8)
    crop = crop_from_box(CropBox(cx=10.0, cy=10.0, side=120.0), 64)  # three quarters outside the frame
    assert (crop.warp(frame) == 200).all()


def test_crop_box_smoother_damps_jitter_and_snaps_on_cuts() -> None:
    rng = np.random.default_rng(1)
    smoother = CropBoxSmoother(alpha=0.2)
    raw, smooth = [], []
    for _ in range(100):
        box = CropBox(300 + rng.normal(0, 3), 200 + rng.normal(0, 3), 250 + rng.normal(0, 3))
        raw.append(box.cx)
        smooth.append(smoother.update(box).cx)
    assert np.std(np.diff(smooth)) < 0.3 * np.std(np.diff(raw))
    jumped = smoother.update(CropBox(900.0, 200.0, 250.0))
    assert jumped == CropBox(900.0, 200.0, 250.0)
    smoother.reset()
    assert smoother.update(CropBox(1.0, 2.0, 3.0)) == CropBox(1.0, 2.0, 3.0)


# ---- rasterizer ----------------------------------------------------------------------------------------


def test_rasterizer_draws_every_part_in_its_colour_where_it_belongs(
    obama: tuple[np.ndarray, np.ndarray],
) -> None:
    _, points = obama
    p = face_crop(points, 256).points_to_crop(points)
    image = rasterize_landmarks(p, 256)
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    # Full-colour pixels lie within a line's width of the points; the faint anti-aliased fringe one more.
    reach = line_thickness(256) + 1
    drawn = image.any(axis=2)
    ys, xs = np.nonzero(drawn)
    assert xs.min() >= p[:, 0].min() - reach - 1 and xs.max() <= p[:, 0].max() + reach + 1
    assert ys.min() >= p[:, 1].min() - reach - 1 and ys.max() <= p[:, 1].max() + reach + 1
    assert drawn.mean() < 0.1  # lines on black, not filled shapes
    for name, part in PARTS.items():
        ys, xs = np.nonzero((image == part.colour).all(axis=2))
        assert len(xs) > 5, f"{name} is not drawn in its colour"
        q = p[list(part.indices)]
        # Pixels of this colour lie on this part, not elsewhere.
        assert xs.min() >= q[:, 0].min() - reach and xs.max() <= q[:, 0].max() + reach, name
        assert ys.min() >= q[:, 1].min() - reach and ys.max() <= q[:, 1].max() + reach, name


def test_rasterizer_scales_line_thickness_and_clips_parts_outside() -> None:
    assert [line_thickness(s) for s in (64, 128, 256, 512)] == [1, 1, 2, 4]
    points = np.random.default_rng(2).uniform(20, 100, (68, 2)).astype(np.float32)
    small = rasterize_landmarks(points, 128).any(axis=2).sum()
    large = rasterize_landmarks(points * 4, 512).any(axis=2).sum()
    assert 8 * small < large < 32 * small  # 4× the length and about 4× the thickness
    # Parts wholly outside the crop draw nothing (documented): the generator sees them as absent.
    assert not rasterize_landmarks(points + 1000, 128).any()
    np.testing.assert_array_equal(rasterize_landmarks(points, 128), rasterize_landmarks(points, 128))


def test_rasterizer_rejects_bad_points() -> None:
    with pytest.raises(ValueError, match="68"):
        rasterize_landmarks(np.zeros((67, 2)), 64)
    bad = np.zeros((68, 2))
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rasterize_landmarks(bad, 64)


def test_rasterizer_is_fast_at_256(obama: tuple[np.ndarray, np.ndarray]) -> None:
    _, points = obama
    p = face_crop(points, 256).points_to_crop(points)
    rasterize_landmarks(p, 256)
    times = []
    for _ in range(200):
        start = time.perf_counter()
        rasterize_landmarks(p, 256)
        times.append(time.perf_counter() - start)
    # Well under 1 ms in practice (~0.12 ms on 2 cores); the bound leaves room for a busy test machine.
    assert np.median(times) < 1e-3


def test_overlay_draws_on_a_copy(obama: tuple[np.ndarray, np.ndarray]) -> None:
    image, points = obama
    before = image.copy()
    overlay = draw_landmarks_overlay(image, points)
    np.testing.assert_array_equal(image, before)
    assert overlay.shape == image.shape and overlay.dtype == np.uint8
    changed = (overlay != image).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 500
    assert xs.min() >= points[:, 0].min() - 10 and xs.max() <= points[:, 0].max() + 10
    assert ys.min() >= points[:, 1].min() - 10 and ys.max() <= points[:, 1].max() + 10


# ---- compositing ---------------------------------------------------------------------------------------


def test_paste_back_changes_only_the_face_region(obama: tuple[np.ndarray, np.ndarray]) -> None:
    frame, points = obama
    crop = face_crop(points, 256)
    before = frame.copy()
    face = 255 - crop.warp(frame)  # a face that differs everywhere
    out = paste_back(frame, face, crop)
    np.testing.assert_array_equal(frame, before)
    assert out.shape == frame.shape and out.dtype == np.uint8
    ys, xs = np.nonzero((out != frame).any(axis=2))
    box = crop.box
    assert xs.min() >= box.cx - box.side / 2 - 1 and xs.max() <= box.cx + box.side / 2 + 1
    assert ys.min() >= box.cy - box.side / 2 - 1 and ys.max() <= box.cy + box.side / 2 + 1
    # The middle of the face is the generated face; the feathered edge blends towards the frame.
    cx, cy = int(box.cx), int(box.cy)
    np.testing.assert_allclose(out[cy, cx].astype(int), 255 - frame[cy, cx].astype(int), atol=4)
    corner = (int(box.cx - box.side / 2 + 2), int(box.cy - box.side / 2 + 2))
    np.testing.assert_allclose(out[corner[1], corner[0]], frame[corner[1], corner[0]], atol=2)


def test_paste_back_of_the_crop_itself_restores_the_frame(obama: tuple[np.ndarray, np.ndarray]) -> None:
    frame, points = obama
    crop = face_crop(points, 256)
    out = paste_back(frame, crop.warp(frame), crop)
    # Down- then up-sampling blurs a little, but nothing is shifted: the affine and its inverse agree.
    assert np.abs(out.astype(int) - frame.astype(int)).mean() < 1.5


def test_crop_mask_is_opaque_inside_and_fades_to_the_edge() -> None:
    mask = crop_mask(256, 0.1)
    assert mask.shape == (256, 256) and mask.dtype == np.uint8
    assert mask[128, 128] == 255 and mask[0, 0] == 0 and mask[128, 0] < 10
    assert (mask == mask[::-1]).all() and (mask == mask.T).all()
    assert mask[128, 40] == 255  # a rounded square, not a small disc
    assert (crop_mask(64, 0.0) > 0).sum() > 0.85 * 64 * 64


def test_place_on_background_centres_the_face_on_the_colour() -> None:
    face = np.zeros((256, 256, 3), np.uint8)
    face[:, :, 0] = 200
    out = place_on_background(face, 640, 360, (0, 255, 0))
    assert out.shape == (360, 640, 3) and out.dtype == np.uint8
    assert (out[:, :140] == (0, 255, 0)).all() and (out[:, 500:] == (0, 255, 0)).all()
    assert (out[:, 140:500] == (200, 0, 0)).all()  # scaled to the full height, centred
    tall = place_on_background(face, 200, 300, (0, 0, 255))
    assert tall.shape == (300, 200, 3)
    assert (tall[:50] == (0, 0, 255)).all() and (tall[50:250] == (200, 0, 0)).all()
    soft = place_on_background(face, 640, 360, (0, 255, 0), feather=0.1)
    assert (soft[180, 320] == (200, 0, 0)).all() and (soft[0, 140] == (0, 255, 0)).all()
