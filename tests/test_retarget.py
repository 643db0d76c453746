"""Retargeting: the driver's motion moves the portrait's landmarks; the driver's face shape does not leak."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import read_rgb, track_driver_points

from liveavatar.landmarks.retarget import RIGID, Retargeter, umeyama


def _iod(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0)))


def _mouth_open(p: np.ndarray) -> float:
    return float(np.linalg.norm(p[66] - p[62])) / _iod(p)


def _roll_deg(p: np.ndarray) -> float:
    v = p[42:48].mean(0) - p[36:42].mean(0)
    return math.degrees(math.atan2(v[1], v[0]))


def _yaw_proxy(p: np.ndarray) -> float:
    """Nose tip's offset from the midpoint of the jaw ends, in eye distances: turns with the head's yaw."""
    return float(p[30, 0] - (p[0, 0] + p[16, 0]) / 2) / _iod(p)


# Identity-bearing points: jaw outline, nose, eyes (the shape a person is recognised by).
IDENTITY = np.r_[0:17, 27:36, 36:48]


def _shape_distance(a: np.ndarray, b: np.ndarray) -> float:
    """RMS distance of a's identity points to b's after the best similarity (pose removed), in b's eye
    distances: 0 for the same shape in any pose."""
    s, r, t = umeyama(a[IDENTITY], b[IDENTITY])
    aligned = s * a[IDENTITY] @ r.T + t
    return float(np.sqrt(((aligned - b[IDENTITY]) ** 2).sum(1).mean())) / _iod(b)


def _synthetic_face(seed: int) -> np.ndarray:
    """A plausible 68-point layout (from the mesh's template order) with per-seed shape variation."""
    rng = np.random.default_rng(seed)
    t = np.linspace(-1, 1, 17)
    jaw = np.column_stack([t * 60, 40 - 50 * np.sqrt(1 - 0.8 * t**2) + 50])
    brows = np.column_stack([np.r_[np.linspace(-45, -10, 5), np.linspace(10, 45, 5)], np.full(10, -25.0)])
    nose = np.column_stack(
        [np.r_[np.zeros(4), np.linspace(-12, 12, 5)], np.r_[np.linspace(-15, 10, 4), np.full(5, 15)]]
    )
    eye = np.array([[-15, 0], [-10, -4], [-5, -4], [0, 0], [-5, 3], [-10, 3]], float)
    eyes = np.r_[eye + [-15, -10], eye * [-1, 1] + [15, -10]]
    ang = np.linspace(0, 2 * np.pi, 13)[:-1]
    outer = np.column_stack([-22 * np.cos(ang), 8 * np.sin(ang) + 35])
    ang8 = np.linspace(0, 2 * np.pi, 9)[:-1]
    inner = np.column_stack([-15 * np.cos(ang8), 3 * np.sin(ang8) + 35])
    pts = np.r_[jaw, brows, nose, eyes, outer, inner]
    return pts * (1 + 0.1 * rng.standard_normal((1, 2))) + 2 * rng.standard_normal(pts.shape) + 128


def _with_depth(p2: np.ndarray) -> np.ndarray:
    return np.column_stack([p2, np.zeros(68)])


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    src = rng.standard_normal((20, 3))
    angle = 0.4
    r = np.array([[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]])
    dst = 1.7 * src @ r.T + [3.0, -1.0, 2.0]
    s, r_est, t = umeyama(src, dst)
    assert s == pytest.approx(1.7)
    np.testing.assert_allclose(r_est, r, atol=1e-9)
    np.testing.assert_allclose(t, [3.0, -1.0, 2.0], atol=1e-9)


def test_driver_at_neutral_gives_the_portrait_exactly():
    portrait, driver = _synthetic_face(1), _synthetic_face(2)
    rt = Retargeter(portrait, 256)
    rt.set_neutral(_with_depth(driver))
    np.testing.assert_allclose(rt(_with_depth(driver)), portrait, atol=1e-3)


def test_head_motion_alone_moves_the_portrait_rigidly():
    """The driver turns (in plane), leans in and moves: the portrait does the same, keeping its shape."""
    portrait, driver = _synthetic_face(1), _synthetic_face(2)
    rt = Retargeter(portrait, 256)
    rt.set_neutral(_with_depth(driver))
    angle, scale, shift = math.radians(12), 1.15, np.array([9.0, -5.0])
    c = driver[RIGID].mean(0)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    moved = c + scale * (driver - c) @ rot.T + shift
    out = rt(_with_depth(moved))
    assert _shape_distance(out, portrait) < 1e-5
    assert _roll_deg(out) - _roll_deg(portrait) == pytest.approx(12, abs=0.01)
    s, _, _ = umeyama(portrait, out)
    assert s == pytest.approx(1.15, abs=1e-5)
    # The translation is carried into portrait units by the driver → portrait similarity (k, Φ).
    k, phi, _ = umeyama(driver[RIGID], portrait[RIGID])
    np.testing.assert_allclose(out[RIGID].mean(0) - portrait[RIGID].mean(0), k * phi @ shift, atol=1e-3)


def test_limits_keep_the_face_in_the_crop():
    portrait, driver = _synthetic_face(1), _synthetic_face(2)
    rt = Retargeter(portrait, 256)
    rt.set_neutral(_with_depth(driver))
    far = driver * 3.0 + 500.0  # the driver jumps to the camera and across the frame
    out = rt(_with_depth(far))
    s, _, _ = umeyama(portrait, out)
    assert s == pytest.approx(rt.limits.max_scale, abs=1e-5)
    assert np.linalg.norm(out[RIGID].mean(0) - portrait[RIGID].mean(0)) <= rt.limits.max_shift * 256 + 1e-3


def test_mouth_motion_is_scaled_to_the_portrait_mouth():
    """A smile (corners pulled apart) on a portrait with a 1.5× wider mouth pulls them 1.5× as far."""
    portrait, driver = _synthetic_face(1), _synthetic_face(2)
    wide = portrait.copy()
    centre_x = portrait[48:68, 0].mean()
    wide[48:68, 0] = centre_x + (portrait[48:68, 0] - centre_x) * 1.5
    smile = driver.copy()
    smile[[48, 60], 0] -= 4.0
    smile[[54, 64], 0] += 4.0

    def stretch(target: np.ndarray) -> float:
        rt = Retargeter(target, 256)
        rt.set_neutral(_with_depth(driver))
        out = rt(_with_depth(smile))
        assert np.abs(out[:48] - target[:48]).max() < 1e-3  # nothing but the mouth moved
        return float((out[54, 0] - out[48, 0]) - (target[54, 0] - target[48, 0]))

    assert stretch(portrait) > 0
    assert stretch(wide) / stretch(portrait) == pytest.approx(1.5, rel=0.02)


@pytest.mark.parametrize(
    "clip, portrait",
    [
        ("lp_d18_man_mouth_open.mp4", "painting_mona_lisa.jpg"),
        ("lp_d9_man_glasses_talking.mp4", "photo_audrey_hepburn.jpg"),
    ],
)
def test_portrait_driven_by_another_person(driving, portraits, clip, portrait):
    from liveavatar.landmarks.tracker import detect_portrait
    from liveavatar.render.align import face_crop

    face, _ = detect_portrait(read_rgb(portraits / portrait), portrait)
    target = face_crop(face.points68, 256).points_to_crop(face.points68)
    driver = track_driver_points(driving / clip)
    assert len(driver) >= 100
    rt = Retargeter(target, 256)
    rt.set_neutral(driver[:5].mean(0))
    out = np.array([rt(d) for d in driver])

    # Motion: the portrait's mouth, roll, yaw and position follow the driver's frame by frame. The
    # measures are computed the same way on both, so a faithful transfer correlates near 1 (measured
    # 0.99–1.0); 0.9 leaves room for the per-part scaling and clamps without letting a broken sign,
    # axis or lag through (any of those drops the correlation well below 0.5).
    for measure in (_mouth_open, _roll_deg, _yaw_proxy):
        a = [measure(d[:, :2]) for d in driver]
        b = [measure(o) for o in out]
        assert np.std(a) > 0  # the clip really moves
        assert np.corrcoef(a, b)[0, 1] > 0.9, measure.__name__
    centre_d = driver[:, RIGID, 0].mean(1)
    centre_o = out[:, RIGID, 0].mean(1)
    assert np.corrcoef(centre_d, centre_o)[0, 1] > 0.9

    # Shape: with the pose removed, the output stays near the portrait and far from the driver. The gap
    # between the two people's shapes (driver vs portrait) is the scale: measured 0.14–0.19 eye distances
    # here. Expressions legitimately deform the face (jaw drops with the mouth), which measured 0.02–0.03
    # at the median; a leak of the driver's shape would move the output towards the driver by a good part
    # of the gap. Bound: the median distance to the portrait under a third of the gap, and the output
    # closer to the portrait than to the driver on every frame.
    to_portrait = np.array([_shape_distance(o, target) for o in out])
    to_driver = np.array([_shape_distance(o, d[:, :2]) for o, d in zip(out, driver, strict=True)])
    gap = np.median([_shape_distance(d[:, :2], target) for d in driver])
    assert gap > 0.08  # two different people
    assert np.median(to_portrait) < gap / 3
    assert np.all(to_portrait < to_driver)
