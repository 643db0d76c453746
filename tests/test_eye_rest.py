"""The eyes' rest: a neutral captured during a blink is measured from the driver's open eyes, not its own.

Synthetic faces (test_expression's driver and portrait) for the rule; the blink clip, tracked by mediapipe
through the Processor and retargeted onto the Mona Lisa, for the effect a user sees: once the blink is
over, the avatar's eyes are as open as the portrait's.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_expression import NEUTRAL3, PORTRAIT

from liveavatar.engines.embedder import build_avatar
from liveavatar.landmarks.retarget import EYE_REST_FRAMES, EYE_REST_MIN, EYE_REST_WIDER, Retargeter
from liveavatar.live.spec import TrackingConfig
from liveavatar.pipeline.stages import Processor
from liveavatar.render.lids import lid_ratios

BLINK_CLIP = "lp_blinkx2_man_hoodie_blinks.mp4"
UPPER = (37, 38, 43, 44)
LOWER = (41, 40, 47, 46)


def _lids(points: np.ndarray, share: float) -> np.ndarray:
    """The face with both eyes' lids at `share` of their gap, about each pair's middle."""
    p = points.copy()
    for upper, lower in zip(UPPER, LOWER, strict=True):
        mid = (points[upper] + points[lower]) / 2
        p[upper] = mid + share * (points[upper] - mid)
        p[lower] = mid + share * (points[lower] - mid)
    return p


def _portrait_openness(retargeter: Retargeter, driver: np.ndarray) -> float:
    """The avatar's lid gap over the portrait's (mean of both eyes) for one driver frame."""
    return float(lid_ratios(retargeter(driver)).mean() / lid_ratios(PORTRAIT).mean())


def _session(neutral_share: float, shares: list[float]) -> tuple[Retargeter, list[float]]:
    """A retargeter whose neutral has its lids at neutral_share of the driver's open gap, then driven by
    frames whose lids are at `shares` of it: the avatar's openness on each."""
    r = Retargeter(PORTRAIT, 256)
    r.set_neutral(_lids(NEUTRAL3, neutral_share))
    return r, [_portrait_openness(r, _lids(NEUTRAL3, s)) for s in shares]


def test_a_neutral_caught_in_a_blink_reopens_to_the_drivers_open_eyes():
    # the neutral's lids half closed: every open frame after read as twice as open, and the avatar stared
    r, seen = _session(0.5, [1.0] * 40)
    assert r.eye_rest == pytest.approx(2.0, abs=0.01)
    # from the first frame after the capture: the eyes open no wider than the portrait's while the rest is
    # measured (they stared at OPENNESS_MAX 1.6 until it was known), and not a frame jumps
    assert np.allclose(seen, 1.0, atol=0.02)
    # a blink after it still closes the avatar's eyes, and the open eyes after it are the portrait's again
    assert _portrait_openness(r, _lids(NEUTRAL3, 0.1)) < 0.05
    assert _portrait_openness(r, NEUTRAL3) == pytest.approx(1.0, abs=0.02)


def test_the_rest_waits_out_a_long_blink_after_the_capture():
    # the capture ends as the lids close, and they stay closed for 12 frames: the median is closed until the
    # open frames outnumber them, then the rest moves
    r, seen = _session(0.5, [0.05] * 12 + [1.0] * 40)
    assert max(seen[:12]) < 0.05
    # and the eyes do not stare meanwhile: held at the portrait's until the open frames outnumber the shut
    assert max(seen[12:]) < 1.02
    assert seen[-1] == pytest.approx(1.0, abs=0.02)


def test_a_calm_neutral_keeps_its_eyes_and_wider_eyes_still_widen():
    # eyes a little wider than the neutral's for the whole window (looking up, a lively face): not a blink
    r, seen = _session(1.0, [EYE_REST_WIDER - 0.03] * EYE_REST_FRAMES + [1.4])
    assert r.eye_rest == 1.0
    assert seen[-1] > 1.4
    # the rest is fixed after its window: eyes opening wide later are an expression, not a new zero
    r, seen = _session(1.0, [1.0] * EYE_REST_FRAMES + [1.5] * 30)
    assert r.eye_rest == 1.0
    assert seen[-1] > 1.5


def test_a_median_sinking_under_the_threshold_lowers_the_rest_smoothly():
    # the first frames clearly wider, then a little: the rest follows the median down rather than dropping
    # back to 1 the frame it crosses EYE_REST_WIDER (the lids would jump)
    r = Retargeter(PORTRAIT, 256)
    r.set_neutral(NEUTRAL3)
    rests = []
    for share in [1.3] * 12 + [1.1] * 40:
        r(_lids(NEUTRAL3, share))
        rests.append(r.eye_rest)
    assert rests[-1] == pytest.approx(1.1, abs=0.01)
    assert min(rests[EYE_REST_MIN:]) > 1.09


def test_eyes_widening_before_the_rest_is_known_are_held_then_released():
    # a calm neutral whose first frames after it happen to be wider (a glance up): held at the portrait's
    # meanwhile, and once the median is known (the eyes back at the neutral's) the rest is 1 again
    r, seen = _session(1.0, [1.3] * (EYE_REST_MIN - 1) + [1.0] * 20 + [1.3])
    assert np.allclose(seen[: EYE_REST_MIN - 1], 1.0, atol=0.02)
    assert r.eye_rest == 1.0
    assert seen[-1] > 1.3


def test_switching_avatars_keeps_the_drivers_eye_rest():
    r, _ = _session(0.5, [1.0] * 40)
    other = Retargeter(PORTRAIT + 3.0, 256)
    other.set_neutral(r.neutral)
    other.continue_rests(r)
    assert other.eye_rest == r.eye_rest
    # a new neutral (Calibrate) measures its rest again
    other.set_neutral(NEUTRAL3)
    assert other.eye_rest == 1.0


@pytest.fixture(scope="module")
def mona_lisa(portraits, checkpoint):
    return build_avatar([portraits / "painting_mona_lisa.jpg"], checkpoint)


def _frames(path, start: int, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    for _ in range(count):
        ok, frame = cap.read()
        assert ok, f"{path.name} has fewer than {start + count} frames"
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def _avatar_openness(avatar, frames: list[np.ndarray], skip: int) -> float:
    """The Processor over the frames: the median of the avatar's lid gap over its portrait's, at the driver's
    open frames from frame `skip` on."""
    processor = Processor(TrackingConfig(), 64)
    rest = float(lid_ratios(avatar.landmarks).mean())
    driver, avatar_open = [], []
    try:
        for i, image in enumerate(frames):
            driven, _ = processor.process(image, None, i / 30, avatar, "relative")
            if i >= skip and driven.driver_now is not None:
                driver.append(float(lid_ratios(driven.driver_now).mean()))
                avatar_open.append(float(lid_ratios(driven.points).mean()) / rest)
    finally:
        processor.close()
    open_frames = np.array(driver) > 0.9 * np.median(driver)
    assert open_frames.sum() >= 5
    return float(np.median(np.array(avatar_open)[open_frames]))


def test_a_session_started_in_a_blink_gets_the_portraits_eyes_back(driving, mona_lisa):
    if not (driving / BLINK_CLIP).is_file():
        pytest.skip(f"{BLINK_CLIP} is not in the shared data")
    # from frame 32 the neutral's 5 frames are the blink's shut lids (mediapipe: 0.07, 0.02, 0.05, 0.47, 0.53
    # of the open gap): without the eye rest the avatar's eyes were 1.51× as open as the portrait's at every
    # open frame after
    assert _avatar_openness(mona_lisa, _frames(driving / BLINK_CLIP, 32, 60), skip=30) == pytest.approx(1.0, abs=0.1)
    # from frame 18 the capture ends as the lids shut, and they stay shut 14 frames more: once they open, the
    # avatar's eyes are the portrait's (they stared, 1.44-1.50, until the median had seen the blink end)
    assert _avatar_openness(mona_lisa, _frames(driving / BLINK_CLIP, 18, 45), skip=19) == pytest.approx(1.0, abs=0.1)
    # started with open eyes, nothing changes
    assert _avatar_openness(mona_lisa, _frames(driving / BLINK_CLIP, 0, 60), skip=30) == pytest.approx(1.0, abs=0.1)


def test_a_capture_ending_in_a_blink_keeps_its_open_eyed_frame_for_the_creases(driving, mona_lisa):
    if not (driving / BLINK_CLIP).is_file():
        pytest.skip(f"{BLINK_CLIP} is not in the shared data")
    # from frame 70 the capture's lids close as it ends (mediapipe: 0.91, 0.96, 0.89, 0.57, 0.12 of the open
    # gap): the creases' neutral frame was the last, shut one
    frames = _frames(driving / BLINK_CLIP, 70, 6)
    processor = Processor(TrackingConfig(), 64)
    try:
        kept = [
            processor.process(image, None, i / 30, mona_lisa, "relative")[0].neutral_frame
            for i, image in enumerate(frames)
        ]
    finally:
        processor.close()
    assert kept[:4] == [None] * 4 and kept[4] is not None and kept[5] is kept[4]
    # the last frame whose eyes are open (frame 72, 0.89), not the shut last one of the capture
    assert kept[4].image is frames[2]
    assert lid_ratios(kept[4].points).min() > 2 * lid_ratios(_track(frames[4])).min()


def _track(image: np.ndarray) -> np.ndarray:
    from liveavatar.landmarks.tracker import FaceTracker

    with FaceTracker("image", 1, irises=True) as tracker:
        return tracker.track(image).landmarks.points68
