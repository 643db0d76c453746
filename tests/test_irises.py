"""Eyes that look (issue 21): the irises as the warp spline's 69th and 70th control points, clamped inside the
opening; gaze from the retargeting and from `pose`; the bundled spline sliding the iris's pixels, not the lids'."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liveavatar.engines.samples import TEMPLATE_68
from liveavatar.landmarks.irises import (
    IRIS_TRAVEL,
    eye_centres,
    eye_frame,
    spline_driven,
    spline_source,
    with_eye_centres,
)
from liveavatar.landmarks.posing import GAZE_TRAVEL, PoseSettings, parse_pose, pose_irises, pose_points
from liveavatar.landmarks.retarget import Retargeter
from liveavatar.models.warp import TpsWarp, tps_inverse

SIZE = 256


def _face() -> np.ndarray:
    return (TEMPLATE_68 * SIZE).astype(np.float32)


def _irises(points: np.ndarray, up: float = 0.0) -> np.ndarray:
    """Irises at the eyes' centres, raised by `up` pixels (a portrait's irises often sit above the centre)."""
    return (eye_centres(points) - np.float32([0, up])).astype(np.float32)


def _closed(points: np.ndarray) -> np.ndarray:
    return pose_points(points, PoseSettings(eyes=1.0), SIZE)


def test_the_control_points_are_the_landmarks_and_the_irises_or_the_eye_centres() -> None:
    face = _face()
    irises = _irises(face, up=1.0)
    assert np.array_equal(spline_source(face, irises), np.concatenate([face, irises]))
    missing = irises.copy()
    missing[1] = np.nan  # a statue's blank left eye
    control = spline_source(face, missing)
    assert np.array_equal(control[68], irises[0]) and np.allclose(control[69], eye_centres(face)[1])
    assert np.array_equal(spline_source(face, None)[68:], eye_centres(face))
    assert np.allclose(with_eye_centres(face), spline_source(face, None))


def test_at_rest_the_irises_do_not_move_even_outside_the_lid_lines() -> None:
    """A portrait at rest is the portrait: its own iris stays where it is, even where it sits above the line
    through the upper lid's points (a sleepy eye), which the opening's clamp would otherwise pull it from."""
    face = _face()
    centre, ax, ay, width, upper, lower = eye_frame(face, 0)
    irises = _irises(face, up=abs(upper) + 2.0)  # above the upper lid's line
    driven = spline_driven(face, None, face, irises)
    assert np.array_equal(driven, spline_source(face, irises))
    assert np.array_equal(spline_driven(face, irises, face, irises), driven)


def test_a_gaze_past_the_corner_is_clamped_inside_the_opening() -> None:
    face = _face()
    irises = _irises(face)
    far = irises + np.float32([[40, 0], [40, 0]])  # far to the image's right
    driven = spline_driven(face, far, face, irises)
    for e in range(2):
        centre, ax, _, width, _, _ = eye_frame(face, e)
        along = float((driven[68 + e] - centre) @ ax)
        assert along == pytest.approx(IRIS_TRAVEL * width, rel=1e-4)
    slight = irises + np.float32([[2, 0], [2, 0]])
    assert np.allclose(spline_driven(face, slight, face, irises)[68:], slight, atol=1e-4)


def test_closing_lids_take_the_iris_to_where_they_meet() -> None:
    face = _face()
    closed = _closed(face)
    driven = spline_driven(closed, _irises(face, up=1.0), face, _irises(face, up=1.0))
    for e, (up, low) in enumerate(((37, 41), (43, 47))):
        assert np.allclose(closed[up], closed[low], atol=1e-3)  # the posed lids meet
        _, _, ay, _, upper, lower = eye_frame(closed, e)
        iris_across = float((driven[68 + e] - eye_centres(closed)[e]) @ ay)
        assert min(upper, lower) - 1e-3 <= iris_across <= max(upper, lower) + 1e-3


def test_a_missing_iris_follows_its_eye_and_ignores_the_gaze() -> None:
    face = _face()
    irises = _irises(face)
    irises[0] = np.nan
    moved = face + np.float32([3, -2])
    look = _irises(moved) + np.float32([[6, 0], [6, 0]])
    driven = spline_driven(moved, look, face, irises)
    assert np.allclose(driven[68], eye_centres(moved)[0])  # the blank eye: its centre, no gaze
    assert driven[69, 0] > eye_centres(moved)[1, 0] + 3  # the other eye looks right


def test_the_retargeted_gaze_starts_from_the_portraits_own_iris() -> None:
    """The driver looks right by 0.1 eye widths: the portrait's iris moves right by 0.1 of its own eye's width
    from where the portrait's iris is, not from its eye's centre (where it was taken to rest before)."""
    face = _face()
    own = _irises(face, up=1.5) + np.float32([[1.5, 0], [-1.0, 0]])
    driver = np.zeros((68, 3))
    driver[:, :2] = face * 1.3 + 20
    driver_irises = np.zeros((2, 3))
    driver_irises[:, :2] = eye_centres(driver[:, :2])
    rt = Retargeter(face, SIZE, target_irises=own)
    rt.set_neutral(driver, driver_irises)
    width = [eye_frame(driver[:, :2], e)[3] for e in range(2)]
    look = driver_irises.copy()
    look[:, 0] += 0.1 * np.array(width)
    result = rt.retarget(driver, look)
    portrait_width = np.array([eye_frame(face, e)[3] for e in range(2)])
    assert np.allclose(result.irises - own, np.c_[0.1 * portrait_width, [0, 0]], atol=0.05)
    at_rest = rt.retarget(driver, driver_irises)
    assert np.allclose(at_rest.irises, own, atol=1e-3)


def test_pose_turns_the_eyes_and_parses_gaze() -> None:
    face = _face()
    irises = _irises(face)
    settings = parse_pose("gaze_x=1 gaze_y=-0.5")
    assert (settings.gaze_x, settings.gaze_y) == (1.0, -0.5)
    posed = pose_points(face, settings, SIZE)
    assert np.array_equal(posed, face)  # gaze moves no landmark
    turned = pose_irises(face, irises, posed, settings)
    for e in range(2):
        _, ax, ay, width, _, _ = eye_frame(face, e)
        along, across = (turned[e] - irises[e]) @ ax, (turned[e] - irises[e]) @ ay
        assert along == pytest.approx(GAZE_TRAVEL[0] * width, rel=1e-3)  # image right
        assert across == pytest.approx(-0.5 * GAZE_TRAVEL[1] * width, rel=1e-3)  # up
    assert pose_irises(face, None, posed, settings) is None
    with pytest.raises(Exception, match="gaze_x 2.0 is out of range"):
        PoseSettings(gaze_x=2.0)


def _eye_texture(face: np.ndarray, irises: np.ndarray) -> torch.Tensor:
    """A white face (230) whose eye openings are light grey (170) with a black iris disc (radius 0.15 eye
    widths) at each of `irises`: 1×3×S×S float in [0, 255], RGB."""
    import cv2

    image = np.full((SIZE, SIZE, 3), 230, np.uint8)
    for e, idx in enumerate((range(36, 42), range(42, 48))):
        cv2.fillPoly(image, [np.round(face[list(idx)]).astype(np.int32)], (170, 170, 170))
        radius = int(round(0.15 * eye_frame(face, e)[3]))
        cv2.circle(image, tuple(int(round(v)) for v in irises[e]), radius, (0, 0, 0), -1)
    return torch.from_numpy(image).permute(2, 0, 1)[None].float()


def _dark_column(grey: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> float:
    """The dark (iris) pixels' mean column inside the box, crop pixels."""
    _, xs = np.nonzero(grey[y0:y1, x0:x1] < 60)
    return float(xs.mean()) + x0


def test_the_bundled_spline_slides_the_iris_and_leaves_the_lids() -> None:
    """The bundled warp's spline (coarse 32, 3 Newton steps, 3 anchors a side, λ 1e-3) over the 70 control
    points: irises driven 0.2 eye widths to the image's right move the dark iris pixels right, while the skin
    around the eye (the lids are among the 68 pinned points) stays as it was."""
    face = _face()
    irises = _irises(face)
    source = spline_source(face, irises)
    widths = np.float32([eye_frame(face, e)[3] for e in range(2)])
    look = irises + np.c_[0.2 * widths, [0, 0]].astype(np.float32)
    driven = spline_driven(face, look, face, irises)
    assert np.allclose(driven[68:], look, atol=1e-4)  # inside the opening: not clamped
    warp = TpsWarp(SIZE, anchors=3, coarse=32, steps=3)
    inverse = torch.from_numpy(tps_inverse(source, SIZE, 3, 1e-3))[None]
    texture = _eye_texture(face, irises)
    warped, _ = warp(texture, torch.from_numpy(source)[None], inverse, torch.from_numpy(driven)[None])
    grey = warped[0].mean(0).numpy()
    before = texture[0].mean(0).numpy()
    for e, idx in enumerate((slice(36, 42), slice(42, 48))):
        (x0, y0), (x1, y1) = face[idx].min(0).astype(int) - 2, face[idx].max(0).astype(int) + 3
        moved = _dark_column(grey, x0, y0, x1, y1) - _dark_column(before, x0, y0, x1, y1)
        # about a quarter of the driven move reaches the pixels (1.5 of 5.5 px: the coarse grid, λ and the lids
        # pinned a few pixels away); with the 68 landmarks alone it was none (driven = source: no shift at all)
        assert moved > 0.2 * 0.2 * widths[e], f"eye {e}: the iris moved {moved:.2f} px"
        # the skin just above and below the opening (3-6 px from the lids) stays the face's white
        above = np.s_[y0 - 6 : y0 - 3, x0:x1]
        below = np.s_[y1 + 3 : y1 + 6, x0:x1]
        assert np.abs(grey[above] - 230).max() < 2 and np.abs(grey[below] - 230).max() < 2


def test_the_pose_command_takes_gaze_flags() -> None:
    from liveavatar.cli import build_parser

    args = build_parser().parse_args(
        ["pose", "p.png", "--gaze-x", "1", "--gaze-y", "-0.5", "--eyes", "1", "-o", "o.png"]
    )
    assert (args.gaze_x, args.gaze_y, args.eyes) == (1.0, -0.5, 1.0)
