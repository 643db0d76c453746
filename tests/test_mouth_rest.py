"""The mouth's rest: a neutral captured with the mouth open is measured from a closed mouth, then the driver's own.

Synthetic faces (test_expression's driver and portrait, in pixels, y down) for the rules; one real clip
that starts mid-sentence, tracked by mediapipe and retargeted onto a tracked painting, for the effect.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import read_rgb, track_driver_points
from test_expression import NEUTRAL3, PORTRAIT, _roll

from liveavatar.landmarks.calibration import mouth_gap, neutral_warning
from liveavatar.landmarks.retarget import MOUTH_CLOSED_GAP, Retargeter
from liveavatar.training.expression import follow_measures

UPPER_INNER, LOWER_INNER = [61, 62, 63], [67, 66, 65]  # pairs: 61-67, 62-66, 63-65
CORNERS = [48, 54, 60, 64]

# A mouth opening by g pixels moves each point down by share × g: lower lip most, chin and corners
# less, the jaw outline less towards the ears, the upper lip not at all (the shape mediapipe measures on
# real faces; deliberately not the retargeter's own table, which it only resembles).
OPEN_PROFILE = np.zeros(68)
OPEN_PROFILE[4:13] = [0.2, 0.3, 0.4, 0.6, 0.6, 0.6, 0.4, 0.3, 0.2]
OPEN_PROFILE[CORNERS] = 0.3
OPEN_PROFILE[55:60] = [0.8, 1.1, 1.1, 1.1, 0.8]
OPEN_PROFILE[LOWER_INNER] = 1.0


def _closed(points: np.ndarray) -> np.ndarray:
    p = points.copy()
    p[LOWER_INNER, 1] = p[UPPER_INNER, 1]  # inner lips together
    return p


CLOSED_PORTRAIT = _closed(PORTRAIT)
CLOSED_DRIVER = _closed(NEUTRAL3)
IOD = float(np.linalg.norm(NEUTRAL3[36:42, :2].mean(0) - NEUTRAL3[42:48, :2].mean(0)))  # ≈ 45 px


def _opened(points: np.ndarray, rest: np.ndarray) -> float:
    """How far the inner lips of `points` are apart beyond those of `rest` (same face, both upright),
    in eye distances: the opening as the portrait and the driver compare (face units)."""
    iod = float(np.linalg.norm(rest[36:42, :2].mean(0) - rest[42:48, :2].mean(0)))
    return (
        float(
            np.mean((points[LOWER_INNER, 1] - rest[LOWER_INNER, 1]) - (points[UPPER_INNER, 1] - rest[UPPER_INNER, 1]))
        )
        / iod
    )


def _open(points: np.ndarray, g: float) -> np.ndarray:
    """The mouth opened by g pixels (inner-lip separation) from where it is."""
    p = points.copy()
    p[:, 1] += OPEN_PROFILE * g
    return p


def _smile(points: np.ndarray) -> np.ndarray:
    """Corners out by 5 px and up by 3 px: a smile on whatever the mouth is doing."""
    p = points.copy()
    p[[48, 60], 0] -= 5
    p[[54, 64], 0] += 5
    p[CORNERS, 1] -= 3
    return p


def _pair(neutral: np.ndarray, portrait: np.ndarray = CLOSED_PORTRAIT) -> tuple[Retargeter, Retargeter]:
    """The same neutral in a retargeter with the adaptive rest (on) and one without (off)."""
    on, off = Retargeter(portrait, 256), Retargeter(portrait, 256, mouth_rest=False)
    on.set_neutral(neutral)
    off.set_neutral(neutral)
    return on, off


OPEN_GAP = 8.0  # px: 0.18 eye distances, what the two mid-sentence clips' first frames measure
OPEN_NEUTRAL = _open(CLOSED_DRIVER, OPEN_GAP)


def test_an_open_neutral_gives_way_to_the_drivers_closed_mouth():
    on, off = _pair(OPEN_NEUTRAL)
    # Before the driver has closed its mouth, the rest is a closed mouth's gap (MOUTH_CLOSED_GAP): the neutral
    # itself opens the portrait's mouth by as much as it is open beyond that, in face units; off shows none.
    start = OPEN_GAP - MOUTH_CLOSED_GAP * IOD
    assert on.mouth_rest_closing == pytest.approx(-start, rel=0.02)
    assert _opened(on(OPEN_NEUTRAL), CLOSED_PORTRAIT) == pytest.approx(start / IOD, rel=0.05)
    np.testing.assert_allclose(off(OPEN_NEUTRAL), CLOSED_PORTRAIT, atol=1e-9)

    # The driver closes its mouth, with its head rolled 8° (the closing is measured with the pose undone).
    on(_roll(CLOSED_DRIVER, 8.0))
    off(_roll(CLOSED_DRIVER, 8.0))
    assert on.mouth_rest_closing == pytest.approx(-OPEN_GAP, rel=0.02)
    closed = on(CLOSED_DRIVER)
    assert mouth_gap(closed) == pytest.approx(mouth_gap(CLOSED_PORTRAIT), abs=0.005)  # its own rest mouth
    # The shape is the portrait's: the upper lip in place (within 0.05 px: the synthetic eye line's tilt
    # makes the re-based lips touch a hair past meeting, which the lips-apart rule splits), the rest off
    # only by how far the synthetic opening's profile differs from the retargeter's (≤ 0.1 × the opening).
    upper = [49, 50, 51, 52, 53] + UPPER_INNER
    np.testing.assert_allclose(closed[upper], CLOSED_PORTRAIT[upper], atol=0.05)
    assert np.abs(closed - CLOSED_PORTRAIT).max() < 0.1 * OPEN_GAP * 1.2  # scale 1.06; measured 0.84 px

    # Opening again: as far as the driver's opened from closed, in face units (off: only the excess over
    # the neutral's opening shows).
    for g in (OPEN_GAP, 2 * OPEN_GAP):
        driver = _open(CLOSED_DRIVER, g)
        opened = _opened(driver, CLOSED_DRIVER)
        assert _opened(on(driver), CLOSED_PORTRAIT) == pytest.approx(opened, rel=0.05)
        # off lags by the neutral's opening (face units, as close as the two faces' proportions allow).
        lag = _opened(on(driver), CLOSED_PORTRAIT) - _opened(off(driver), CLOSED_PORTRAIT)
        assert lag == pytest.approx(OPEN_GAP / IOD, rel=0.1)
        assert on.mouth_rest_closing == pytest.approx(-OPEN_GAP, rel=0.02)  # opening does not move the rest

    # A mouth's shape as it opens: the lower lip drops, the chin follows, the upper lip stays.
    out = on(_open(CLOSED_DRIVER, OPEN_GAP))
    drop = (out - CLOSED_PORTRAIT)[:, 1]
    assert drop[LOWER_INNER].min() > 0.8 * OPEN_GAP
    assert drop[8] > 0.4 * drop[66]
    assert np.abs(drop[UPPER_INNER]).max() < 0.1 * drop[66]


def test_a_closed_neutral_behaves_exactly_as_without_the_adaptive_rest():
    """A neutral with the lips together (or parted less than closed lips read) keeps its zero: pressing
    the lips, opening, smiling and turning give the very same points with the switch on and off."""
    slightly_parted = _open(CLOSED_DRIVER, 0.04 * IOD)
    for neutral in (CLOSED_DRIVER, slightly_parted):
        on, off = _pair(neutral, PORTRAIT)
        for frame in (
            _open(neutral, -0.04 * IOD),  # pressed: the lips cross in the tracker
            _open(neutral, 10.0),
            _smile(neutral),
            _roll(_open(neutral, -2.0), -6.0),
            neutral,
        ):
            np.testing.assert_array_equal(on(frame), off(frame))
        assert on.mouth_rest_closing == 0.0


def test_a_smile_on_the_closed_frame_is_not_taken_into_the_rest():
    """Only the opening is re-based: a driver that first closes its mouth while smiling, then relaxes,
    shows the portrait's own mouth corners (not a frown), and the smile itself was carried."""
    on, _ = _pair(OPEN_NEUTRAL)
    smiling = on(_smile(CLOSED_DRIVER))
    assert on.mouth_rest_closing == pytest.approx(-OPEN_GAP, rel=0.02)
    width = CLOSED_PORTRAIT[54, 0] - CLOSED_PORTRAIT[48, 0]
    assert smiling[54, 0] - smiling[48, 0] > width + 8  # the 10 px wider smile reaches the portrait
    assert smiling[CORNERS, 1].mean() < CLOSED_PORTRAIT[CORNERS, 1].mean() - 2  # corners up

    relaxed = on(CLOSED_DRIVER)
    assert relaxed[54, 0] - relaxed[48, 0] == pytest.approx(width, abs=1e-4)
    np.testing.assert_allclose(relaxed[CORNERS], CLOSED_PORTRAIT[CORNERS], atol=0.1)


def test_set_neutral_resets_the_rest():
    on, _ = _pair(OPEN_NEUTRAL)
    on(CLOSED_DRIVER)
    assert on.mouth_rest_closing == pytest.approx(-OPEN_GAP, rel=0.02)
    assert _opened(on(OPEN_NEUTRAL), CLOSED_PORTRAIT) == pytest.approx(OPEN_GAP / IOD, rel=0.05)  # all of it
    on.set_neutral(OPEN_NEUTRAL)
    assert on.mouth_rest_closing == pytest.approx(-(OPEN_GAP - MOUTH_CLOSED_GAP * IOD), rel=0.02)


def test_the_rest_only_lowers_and_stops_at_lips_touching():
    on, _ = _pair(OPEN_NEUTRAL)
    start = on.mouth_rest_closing
    on(_open(OPEN_NEUTRAL, -0.5 * MOUTH_CLOSED_GAP * IOD))  # closer, but still more open than the rest
    assert on.mouth_rest_closing == start
    on(_open(OPEN_NEUTRAL, 5.0))  # opening is motion, not a new rest
    assert on.mouth_rest_closing == start
    on(_open(CLOSED_DRIVER, -5.0))  # a tracker glitch: the lips 5 px through each other
    assert on.mouth_rest_closing == pytest.approx(-OPEN_GAP, rel=0.02)  # the rest is lips touching
    assert _opened(on(_open(CLOSED_DRIVER, 4.0)), CLOSED_PORTRAIT) == pytest.approx(4.0 / IOD, rel=0.05)


def test_an_open_mouth_at_the_neutral_is_a_problem_only_without_the_mouth_rest():
    open_wide = _open(CLOSED_DRIVER, 0.3 * IOD)
    assert neutral_warning(open_wide, CLOSED_PORTRAIT) == ""  # the avatar's mouth follows from the first frame
    old = neutral_warning(open_wide, CLOSED_PORTRAIT, mouth_rest=False)
    assert "your mouth was open" in old and "press Calibrate" in old
    smiling = neutral_warning(_smile(open_wide), CLOSED_PORTRAIT)
    assert "you were smiling" in smiling and "press Calibrate" in smiling and "mouth was open" not in smiling
    assert neutral_warning(CLOSED_DRIVER, CLOSED_PORTRAIT) == ""


@pytest.mark.parametrize("clip", ["styletalk_happy_woman_2.mp4", "aniportrait_theresa_may.mp4"])
def test_a_clip_that_starts_mid_sentence_drives_the_whole_mouth(driving, portraits, clip):
    """Held-out clips whose first frame has the mouth open (as `eval`'s cross-reenactment takes its
    neutral), retargeted onto the Mona Lisa (closed mouth, tracked): the inner-lip opening's 5-95 % range
    relative to the driver's and its r over time, the same measures as the eval's (eye distances)."""
    from liveavatar.landmarks.tracker import detect_portrait
    from liveavatar.render.align import face_crop

    face, _ = detect_portrait(read_rgb(portraits / "painting_mona_lisa.jpg"), "painting_mona_lisa.jpg")
    target = face_crop(face.points68, 256).points_to_crop(face.points68)
    driver = track_driver_points(driving / clip)
    assert len(driver) >= 80
    assert mouth_gap(driver[0]) > 0.1  # the clip does start with the mouth open
    measures = {}
    for rest in (False, True):
        rt = Retargeter(target, 256, mouth_rest=rest)
        rt.set_neutral(driver[0])
        out = [rt(d) for d in driver]
        measures[rest] = follow_measures([d[:, :2] for d in driver], out)
    off, on = measures[False], measures[True]
    # Measured (off → on, every frame): styletalk range 0.32 → 1.03, r 0.77 → 0.96; theresa_may range
    # 0.55 → 1.04, r 0.89 → 0.96.
    # The bar is range ≥ 0.5 and r ≥ 0.8; a faithful transfer is near 1 on both.
    assert 0.8 < on["mouth_range_ratio"] < 1.25
    assert on["r_mouth"] > 0.9
    assert on["mouth_range_ratio"] > off["mouth_range_ratio"] + 0.3
    assert off["mouth_range_ratio"] < 0.6  # today's failure, so the comparison means something
