"""The eye measures eval and tools/measure_eyes share (liveavatar.training.eye_follow), on synthetic readings."""

from __future__ import annotations

import numpy as np

from liveavatar.training.eye_follow import BLINK_FRAMES, STILL_GAZE, darkest_irises, eye_follow, eye_reading


def face(gap: float = 10.0) -> np.ndarray:
    """68×2 points with two level eyes 40 px wide whose lids are `gap` px apart."""
    p = np.full((68, 2), 200.0)
    for corner, x in ((36, 60.0), (42, 140.0)):
        p[corner], p[corner + 3] = (x, 100), (x + 40, 100)
        p[corner + 1], p[corner + 2] = (x + 13, 100 - gap / 2), (x + 27, 100 - gap / 2)
        p[corner + 5], p[corner + 4] = (x + 13, 100 + gap / 2), (x + 27, 100 + gap / 2)
    return p


def test_a_reading_is_the_irises_offset_and_the_lid_gap_per_eye_width():
    irises = np.array([[80.0 + 8, 100], [160.0 + 8, 100]])  # each 8 px from its eye's centre along the eye
    gaze, ratio = eye_reading(face(10), irises)
    assert np.isclose(gaze, 0.2) and np.isclose(ratio, 0.25)
    assert np.isnan(eye_reading(face(10), None)[0])


def test_the_darkest_fifth_inside_the_lids_is_the_iris():
    image = np.full((240, 260, 3), 220, np.uint8)
    image[95:106, 85:93] = 20  # a dark iris right of the right eye's centre (x 80)
    image[95:106, 152:160] = 20  # and left of the left eye's (x 160)
    irises = darkest_irises(image, face(12))
    assert np.allclose(irises[:, 0], [88.5, 155.5], atol=1.5) and np.allclose(irises[:, 1], 100, atol=1.5)


def test_a_follower_a_statue_a_still_driver_and_closed_frames():
    t = np.linspace(0, 4 * np.pi, 60)
    driver = [(0.12 * np.sin(x), 0.3) for x in t]
    driver[20:23] = [(0.0, 0.03)] * 3  # a blink: closed frames
    follower = [(0.5 * g, 0.3 if r > 0.1 else 0.09) for g, r in driver]
    figures = eye_follow(driver, follower)
    assert figures["gaze_r"] > 0.99 and np.isclose(figures["gaze_range"], 0.5)
    assert figures["closed_frames"] == 3
    assert np.isclose(figures["driver_closed_ratio"], 0.1) and np.isclose(figures["output_closed_ratio"], 0.3)
    statue = eye_follow(driver, [(0.0, 0.3)] * 60)
    assert statue["gaze_r"] is None and statue["gaze_range"] == 0.0  # nothing moves: r is undefined
    still = [(STILL_GAZE / 3 * np.sin(x), 0.3) for x in t]
    assert eye_follow(still, follower)["gaze_r"] is None  # a driver looking ahead has no gaze to follow
    assert eye_follow(driver[:8], follower[:8]) == {"frames": 8}


def test_eye_openness_r_needs_a_driver_who_blinks():
    """Open lids wobble by a few percent from frame to frame: an output echoing that wobble must not count as
    following blinks; one that shuts with a blinking driver does."""
    rng = np.random.default_rng(0)
    wobble = 0.3 * (1 + 0.04 * rng.standard_normal(40))
    driver = [(0.0, r) for r in wobble]
    assert eye_follow(driver, driver)["eyes_r"] is None  # r would be 1 on noise alone
    blinking = wobble.copy()
    blinking[10 : 10 + BLINK_FRAMES] = 0.03
    figures = eye_follow([(0.0, r) for r in blinking], [(0.0, 0.5 * r + 0.1) for r in blinking])
    assert figures["closed_frames"] == BLINK_FRAMES and figures["eyes_r"] > 0.99
    lone = wobble.copy()
    lone[10] = 0.03  # one closed frame: a tracker's slip as often as a blink
    assert eye_follow([(0.0, r) for r in lone], [(0.0, r) for r in lone])["eyes_r"] is None
