"""Head turns a photo can show: the portrait's own yaw, the soft limit on the turn carried over, and the
face that no longer folds when a driver turns far (liveavatar/landmarks/turns.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from conftest import read_rgb, track_driver_points

from liveavatar.landmarks.retarget import Retargeter, RetargetLimits, rotation_matrix
from liveavatar.landmarks.turns import FACING, MIN_ROOM, REVEAL, TURN, facing_yaw, limit_turn, portrait_yaw

TURNING_CLIP = "metrical_tracker_wojtek.mp4"  # talks, then turns about 44 degrees to one side (frames 150-190)
NO_LIMIT = RetargetLimits(turn=1e9, facing=1e9, reveal=1e9)


def _deg(v: float) -> float:
    return math.degrees(v)


@pytest.fixture(scope="module")
def turning_driver(driving) -> np.ndarray:
    points = track_driver_points(driving / TURNING_CLIP, limit=200)
    assert len(points) >= 190
    return points


def _yaw_of(r: Retargeter, driver: np.ndarray) -> np.ndarray:
    return np.array([r.measure(p, None).rotation[1] for p in driver])


# ---- the limit itself ----


def test_small_turns_are_carried_almost_whole_and_large_ones_stop_short():
    for degrees in (2.0, 5.0):
        out = limit_turn(np.radians([degrees, -degrees, 0.0]), 0.0)
        np.testing.assert_allclose(np.degrees(out[:2]), [degrees, -degrees], rtol=0.03)
    out = np.degrees(limit_turn(np.radians([80.0, -80.0, 0.0]), 0.0))
    assert TURN * 0.9 < out[0] < TURN and -TURN < out[1] < -TURN * 0.9
    yaws = np.radians(np.linspace(-90, 90, 181))
    carried = np.array([limit_turn(np.array([0.0, y, 0.0]), 0.0)[1] for y in yaws])
    assert np.all(np.diff(carried) > 0)  # monotonic: a further turn is never carried as a smaller one


def test_roll_is_not_limited_and_a_face_at_rest_does_not_turn():
    np.testing.assert_array_equal(limit_turn(np.array([0.0, 0.0, 1.2]), math.radians(30)), [0.0, 0.0, 1.2])
    np.testing.assert_array_equal(limit_turn(np.zeros(3), math.radians(60)), np.zeros(3))


def test_a_turned_portrait_turns_less_away_and_less_towards():
    own = math.radians(25.0)
    away = _deg(limit_turn(np.radians([0.0, 60.0, 0.0]), own)[1])  # same sign as its own yaw: further away
    towards = _deg(limit_turn(np.radians([0.0, -60.0, 0.0]), own)[1])
    assert 0 < away < FACING - 25  # it faces at most FACING degrees away
    assert -max(TURN * (1 - 25 / REVEAL), MIN_ROOM) - 1e-9 <= towards < 0
    frontal = _deg(limit_turn(np.radians([0.0, 60.0, 0.0]), 0.0)[1])
    assert away < frontal and -towards < frontal
    # a portrait turned past FACING and REVEAL (a bust in profile) turns only the least room either way; its
    # pitch moves as any portrait's
    for yaw in (30.0, -30.0):
        out = limit_turn(np.radians([10.0, yaw, 0.0]), math.radians(55.0))
        assert 0.9 * MIN_ROOM < abs(_deg(out[1])) < MIN_ROOM and _deg(out[0]) > 9


# ---- the portrait's own yaw ----


def test_portrait_yaw_recovers_a_known_turn(turning_driver):
    neutral = turning_driver[:5].mean(0)
    centred = neutral - neutral.mean(0)
    for degrees in (-30.0, 0.0, 12.0, 35.0):
        turned = centred @ rotation_matrix(np.array([0.0, math.radians(degrees), 0.0])).T
        angle = math.radians(20.0)  # and laid at another scale, angle and place, as a portrait is
        similarity = 1.7 * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        portrait = turned[:, :2] @ similarity.T + [300.0, 200.0]
        assert _deg(portrait_yaw(neutral, portrait)) == pytest.approx(degrees, abs=1.0)
    flat = neutral.copy()
    flat[:, 2] = 0.0  # a scripted driver has no depth: its turns are in-plane, nothing to fit
    assert portrait_yaw(flat, neutral[:, :2]) == 0.0


def test_portrait_yaw_reads_a_turned_painting_as_turned(turning_driver, portraits):
    from liveavatar.landmarks.tracker import detect_portrait

    neutral = turning_driver[:5].mean(0)
    yaws = {}
    for name in ("painting_girl_with_a_pearl_earring.jpg", "photo_barack_obama.jpg", "statue_apollo_bust.png"):
        face, _ = detect_portrait(read_rgb(portraits / name), name)
        yaws[name] = _deg(portrait_yaw(neutral, face.points68))
    # measured 32, -6 and -53: over her shoulder, near frontal, a bust in profile the other way
    assert 25 < yaws["painting_girl_with_a_pearl_earring.jpg"] < 40
    assert abs(yaws["photo_barack_obama.jpg"]) < 12
    assert yaws["statue_apollo_bust.png"] < -40


def test_a_driver_sitting_at_an_angle_does_not_make_a_frontal_portrait_turned(turning_driver, driving, portraits):
    """The portrait's yaw the limit reads is from facing the camera, not from the driver's neutral: a driver
    whose neutral is three-quarter (the woman in mph_celebvhq_woman_dark_hair_turning, ~34 degrees) and one
    facing the camera read the same portraits within a few degrees (measured 4-8 apart)."""
    from liveavatar.landmarks.tracker import detect_portrait
    from liveavatar.render.align import face_crop

    frontal = turning_driver[:5].mean(0)
    angled = track_driver_points(driving / "mph_celebvhq_woman_dark_hair_turning.mp4", limit=10)[:5].mean(0)
    assert abs(_deg(facing_yaw(frontal))) < 8 and _deg(facing_yaw(angled)) > 25
    for name, lo, hi in (("photo_barack_obama.jpg", -15, 5), ("painting_girl_with_a_pearl_earring.jpg", 22, 42)):
        face, _ = detect_portrait(read_rgb(portraits / name), name)
        target = face_crop(face.points68, 256).points_to_crop(face.points68)
        yaws = []
        for neutral in (frontal, angled):
            r = Retargeter(target, 256)
            r.set_neutral(neutral)
            yaws.append(_deg(r.own_yaw))
        assert all(lo < y < hi for y in yaws), (name, yaws)
        assert abs(yaws[0] - yaws[1]) < 10, (name, yaws)


# ---- the face that folded ----


def _outline(points: np.ndarray) -> np.ndarray:
    """The face's outline: the jaw from ear to ear, then the brows back across (a closed polygon)."""
    return np.r_[points[0:17], points[26:21:-1], points[21:16:-1]].astype(np.float32)


def _mouth_outside(points: np.ndarray) -> float:
    """How far (pixels) the outer lips reach past the face's outline at most; ≤ 0 when all inside."""
    outline = _outline(points)
    return max(-cv2.pointPolygonTest(outline, (float(x), float(y)), True) for x, y in points[48:60])


@pytest.mark.parametrize("name", ["photo_barack_obama.jpg", "photo_angelina_jolie.jpg"])
def test_a_driver_turning_far_no_longer_lays_the_mouth_outside_the_face(turning_driver, portraits, name):
    """A driver turning ~44 degrees took the portrait's mouth far past its own outline (the warp then folded
    the face and the driver's mouth was laid on the background); limited, it reaches under half as far (the
    outline of a frontal jaw is not a turned head's silhouette: a few pixels past it show no fold) and the
    head still turns the driver's way."""
    from liveavatar.landmarks.tracker import detect_portrait
    from liveavatar.render.align import face_crop

    face, _ = detect_portrait(read_rgb(portraits / name), name)
    target = face_crop(face.points68, 256).points_to_crop(face.points68)
    neutral = turning_driver[:5].mean(0)
    limited, free = Retargeter(target, 256), Retargeter(target, 256, limits=NO_LIMIT)
    for r in (limited, free):
        r.set_neutral(neutral)
    yaws = np.degrees(_yaw_of(free, turning_driver))
    turned = np.flatnonzero(np.abs(yaws) > 35)
    assert len(turned) >= 20  # the clip really turns far, for a while
    motions = [free.measure(turning_driver[i], None) for i in turned]
    out_free = [free.apply(m).points for m in motions]
    out = [limited.apply(m).points for m in motions]
    worst_free = max(_mouth_outside(o) for o in out_free)
    worst = max(_mouth_outside(o) for o in out)
    # measured (crop px of 256): Obama 22.3 → 9.9, Angelina Jolie 34.4 → 7.0
    assert worst_free > 15.0
    assert worst < 0.5 * worst_free
    # still turned the driver's way: the nose moved across the face, part of the way the free one did
    moved = np.array([o[30, 0] - target[30, 0] for o in out])
    moved_free = np.array([o[30, 0] - target[30, 0] for o in out_free])
    assert np.all(moved * moved_free > 0) and np.median(np.abs(moved) / np.abs(moved_free)) > 0.2
