"""Expression controls on the landmarks: each gain's effect, region modes, blinks and lips that land, gaze."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_retarget import _synthetic_face

from liveavatar.errors import InputError
from liveavatar.landmarks.calibration import mouth_gap, neutral_warning
from liveavatar.landmarks.controls import GAINS, REGIONS, ExpressionControls
from liveavatar.landmarks.retarget import GAIN_POINTS, RIGID, Retargeter, eye_openness, gaze_angles, umeyama

PORTRAIT = _synthetic_face(1)
DRIVER = _synthetic_face(2)
NEUTRAL_IRISES = np.column_stack([DRIVER[36:42].mean(0), DRIVER[42:48].mean(0)]).T  # 2×2
NEUTRAL_IRISES3 = np.column_stack([NEUTRAL_IRISES, [-5.0, -5.0]])


def _depth(p2: np.ndarray) -> np.ndarray:
    """A plausible depth (the face bulges towards the camera), so rotations are really 3D."""
    c = p2.mean(0)
    r = np.linalg.norm(p2 - c, axis=1)
    return np.column_stack([p2, -0.5 * (r.max() - r)])


NEUTRAL3 = _depth(DRIVER)


def _retargeter(portrait: np.ndarray = PORTRAIT) -> Retargeter:
    rt = Retargeter(portrait, 256)
    rt.set_neutral(NEUTRAL3, NEUTRAL_IRISES3)
    return rt


def _blink(points: np.ndarray, closed: float) -> np.ndarray:
    """Lids `closed` (0 open, 1 shut) of the way to meeting."""
    p = points.copy()
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        meet = (p[upper] + p[lower]) / 2
        p[upper] += closed * (meet - p[upper])
        p[lower] += closed * (meet - p[lower])
    return p


def _with_motion(part: str) -> np.ndarray:
    """The driver's neutral with one part moved (68×3)."""
    p = NEUTRAL3.copy()
    if part == "brows":
        p[17:27, 1] -= 4.0
    elif part == "eyes":
        p = _blink(p, 0.5)
    elif part == "mouth":
        p[[56, 57, 58, 65, 66, 67, 7, 8, 9], 1] += 6.0
    return p


def _roll(points3: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    rot = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    c = points3[RIGID].mean(0)
    return c + (points3 - c) @ rot.T


def _roll_deg(p: np.ndarray) -> float:
    _, r, _ = umeyama(PORTRAIT[RIGID], p[RIGID])
    return math.degrees(math.atan2(r[1, 0], r[0, 0]))


@pytest.mark.parametrize("part", ["brows", "mouth"])
def test_an_expression_gain_of_0_freezes_the_part_and_2_doubles_its_motion(part):
    rt = _retargeter()
    moved = _with_motion(part)
    one = rt(moved, ExpressionControls())
    zero = rt(moved, ExpressionControls(**{part: 0.0}))
    two = rt(moved, ExpressionControls(**{part: 2.0}))
    idx = GAIN_POINTS[part]
    assert np.abs(one[idx] - PORTRAIT[idx]).max() > 1.0  # the part really moved at gain 1
    np.testing.assert_allclose(zero, PORTRAIT, atol=1e-3)  # frozen: the portrait at rest
    np.testing.assert_allclose(two - PORTRAIT, 2 * (one - PORTRAIT), atol=1e-3)
    others = np.setdiff1d(np.arange(68), idx)
    np.testing.assert_allclose(one[others], PORTRAIT[others], atol=1e-3)  # nothing else moved


def test_the_eye_gain_scales_how_far_the_lids_close():
    rt = _retargeter()
    half = _with_motion("eyes")
    gap0 = eye_openness(PORTRAIT, PORTRAIT)
    closing = {g: 1 - eye_openness(rt(half, ExpressionControls(eyes=g)), PORTRAIT) for g in (0.0, 1.0, 2.0)}
    np.testing.assert_allclose(gap0, 1.0)
    np.testing.assert_allclose(closing[0.0], 0.0, atol=1e-6)
    assert np.all(closing[1.0] > 0.3)
    np.testing.assert_allclose(closing[2.0], np.minimum(2 * closing[1.0], 1.0), atol=1e-6)


def test_the_rotation_gain_scales_the_head_turn():
    rt = _retargeter()
    turned = _roll(NEUTRAL3, 10.0)
    for gain, expected in ((0.0, 0.0), (1.0, 10.0), (2.0, 20.0)):
        out = rt(turned, ExpressionControls(rotation=gain))
        assert _roll_deg(out) == pytest.approx(expected, abs=0.05)


def test_the_position_gain_scales_the_head_shift_and_lean():
    rt = _retargeter()
    c = NEUTRAL3[RIGID].mean(0)
    moved = c + 1.1 * (NEUTRAL3 - c) + [6.0, -4.0, 0.0]

    def shift_and_scale(gain: float) -> tuple[np.ndarray, float]:
        out = rt(moved, ExpressionControls(position=gain))
        s, _, _ = umeyama(PORTRAIT, out)
        return out[RIGID].mean(0) - PORTRAIT[RIGID].mean(0), s

    shift0, s0 = shift_and_scale(0.0)
    shift1, s1 = shift_and_scale(1.0)
    shift2, s2 = shift_and_scale(2.0)
    np.testing.assert_allclose(shift0, 0, atol=1e-3)
    assert s0 == pytest.approx(1.0, abs=1e-4)
    assert np.linalg.norm(shift1) > 3
    np.testing.assert_allclose(shift2, 2 * shift1, atol=1e-3)
    assert s1 == pytest.approx(1.1, abs=1e-4) and s2 == pytest.approx(1.2, abs=1e-4)


def _look(dx: float, dy: float) -> np.ndarray:
    irises = NEUTRAL_IRISES3.copy()
    irises[:, 0] += dx
    irises[:, 1] += dy
    return irises


def test_the_gaze_gain_scales_the_iris_offset_on_the_portrait():
    rt = _retargeter()
    rest = rt.retarget(NEUTRAL3, NEUTRAL_IRISES3).irises
    portrait_centres = np.array([PORTRAIT[36:42].mean(0), PORTRAIT[42:48].mean(0)])
    np.testing.assert_allclose(rest, portrait_centres, atol=1e-3)  # at the neutral: the eye's centre
    offsets = {g: rt.retarget(NEUTRAL3, _look(2.0, 0.5), ExpressionControls(gaze=g)).irises - rest for g in (0, 1, 2)}
    np.testing.assert_allclose(offsets[0], 0, atol=1e-4)
    assert np.all(offsets[1][:, 0] > 0.5)  # looking to the image's right
    np.testing.assert_allclose(offsets[2], 2 * offsets[1], atol=1e-4)


def test_gaze_angles_match_the_driver_at_the_landmark_level():
    """The same look measured on the driver and on the retargeted portrait gives the same angles."""
    rt = _retargeter()
    look = _look(2.0, -1.0)
    out = rt.retarget(NEUTRAL3, look)
    driver_deg = gaze_angles(NEUTRAL3, look) - gaze_angles(NEUTRAL3, NEUTRAL_IRISES3)
    rest = rt.retarget(NEUTRAL3, NEUTRAL_IRISES3)
    output_deg = gaze_angles(out.points, out.irises) - gaze_angles(rest.points, rest.irises)
    assert np.abs(driver_deg).max() > 5
    np.testing.assert_allclose(output_deg, driver_deg, atol=0.5)


def _everything() -> tuple[np.ndarray, np.ndarray]:
    p = _with_motion("brows")
    p = _blink(p, 0.4)
    p[[56, 57, 58, 65, 66, 67, 7, 8, 9], 1] += 6.0
    return _roll(p, 8.0) + [5.0, 3.0, 0.0], _roll(np.r_[NEUTRAL3, _look(2.0, 0.0)], 8.0)[68:] + [5.0, 3.0, 0.0]


@pytest.mark.parametrize("region", REGIONS)
def test_region_modes_touch_only_their_parts(region):
    rt = _retargeter()
    driver, irises = _everything()
    expected_gains = {
        "everything": {},
        "expression": {"rotation": 0.0, "position": 0.0},
        "pose": {"brows": 0.0, "eyes": 0.0, "gaze": 0.0, "mouth": 0.0},
        "eyes": {"rotation": 0.0, "position": 0.0, "brows": 0.0, "mouth": 0.0},
        "lips": {"rotation": 0.0, "position": 0.0, "brows": 0.0, "eyes": 0.0, "gaze": 0.0},
    }[region]
    out = rt.retarget(driver, irises, ExpressionControls(region=region))
    same = rt.retarget(driver, irises, ExpressionControls(**expected_gains))
    np.testing.assert_allclose(out.points, same.points, atol=1e-5)
    np.testing.assert_allclose(out.irises, same.irises, atol=1e-5)
    if region in ("eyes", "lips"):
        moving = GAIN_POINTS["eyes" if region == "eyes" else "mouth"]
        still = np.setdiff1d(np.arange(68), moving)
        np.testing.assert_allclose(out.points[still], PORTRAIT[still], atol=1e-3)
        assert np.abs(out.points[moving] - PORTRAIT[moving]).max() > 1.0
    if region == "pose":  # the expression is neutral: the portrait's shape, moved rigidly
        s, r, t = umeyama(PORTRAIT, out.points)
        np.testing.assert_allclose(s * PORTRAIT @ r.T + t, out.points, atol=1e-3)


def test_controls_are_validated_with_a_message_naming_the_fix():
    with pytest.raises(InputError, match="mouth gain 2.5 is out of range; use a number from 0 to 2"):
        ExpressionControls(mouth=2.5)
    with pytest.raises(InputError, match="region 'face' is unknown"):
        ExpressionControls(region="face")
    with pytest.raises(InputError, match="not a number"):
        ExpressionControls.from_dict({"eyes": "wide"})
    stored = ExpressionControls(brows=0.5, region="lips").as_dict()
    assert ExpressionControls.from_dict({**stored, "unknown": 3}) == ExpressionControls(brows=0.5, region="lips")
    assert set(GAINS) <= set(stored)


def test_a_wide_eyed_portrait_closes_fully_when_the_driver_blinks():
    """mediapipe's lids stop ~a quarter apart on a real blink; the portrait's (twice as open) must meet."""
    wide = PORTRAIT.copy()
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        mid = (wide[upper] + wide[lower]) / 2
        wide[upper] = mid + 2 * (wide[upper] - mid)
        wide[lower] = mid + 2 * (wide[lower] - mid)
    rt = _retargeter(wide)
    out = rt(_blink(NEUTRAL3, 0.8))
    np.testing.assert_allclose(eye_openness(out, wide), 0.0, atol=1e-6)
    half = rt(_blink(NEUTRAL3, 0.4))
    assert np.all(eye_openness(half, wide) > 0.3)  # a half blink stays a half blink


def test_a_closed_mouth_opens_as_wide_as_the_drivers_relative_to_face_size():
    closed = PORTRAIT.copy()
    closed[[65, 66, 67], 1] = closed[[63, 62, 61], 1]  # inner lips together
    closed_driver = NEUTRAL3.copy()
    closed_driver[[65, 66, 67], 1] = closed_driver[[63, 62, 61], 1]
    rt = Retargeter(closed, 256)
    rt.set_neutral(closed_driver)
    open_driver = closed_driver.copy()
    open_driver[[55, 56, 57, 58, 59, 65, 66, 67], 1] += 10.0
    out = rt(open_driver)
    assert mouth_gap(open_driver) > 0.2
    assert mouth_gap(out) == pytest.approx(mouth_gap(open_driver), rel=0.1)


def test_a_neutral_captured_while_smiling_or_turned_is_called_out():
    assert neutral_warning(NEUTRAL3, PORTRAIT) == ""
    smiling = NEUTRAL3.copy()
    smiling[[48, 60], 0] -= 8
    smiling[[54, 64], 0] += 8
    assert "you were smiling" in neutral_warning(smiling, PORTRAIT)
    turned = NEUTRAL3.copy()
    turned[42:48, 2] += 20  # the left eye further from the camera: turned about 18°
    assert "turned" in neutral_warning(turned, PORTRAIT)
    assert "press Calibrate" in neutral_warning(turned, PORTRAIT)


def test_pressed_lips_do_not_cross_on_a_closed_mouth():
    """The driver presses its (slightly open) lips shut: a closed-mouthed portrait stays closed, its inner
    lips meet but never pass through each other."""
    closed = PORTRAIT.copy()
    closed[[61, 62, 63]] = closed[[67, 66, 65]] = (closed[[61, 62, 63]] + closed[[67, 66, 65]]) / 2
    rt = Retargeter(closed, 256)
    driver = NEUTRAL3.copy()
    driver[[65, 66, 67], 1] = driver[[63, 62, 61], 1] + 3.0  # the driver's neutral: lips 3 px apart
    rt.set_neutral(driver)
    pressed = driver.copy()
    pressed[[65, 66, 67], 1] -= 3.0
    out = rt(pressed)
    across = closed[45] - closed[36]
    down = np.array([-across[1], across[0]]) / np.linalg.norm(across)  # the face's own down axis
    gaps = [(out[lower] - out[upper]) @ down for upper, lower in ((61, 67), (62, 66), (63, 65))]
    np.testing.assert_allclose(gaps, 0.0, atol=1e-3)
