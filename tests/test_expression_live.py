"""Expression controls on the live path: the runner applies a change on the next frame; `run` flags."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import wait_until

from liveavatar.avatar import save_avatar
from liveavatar.engines.embedder import build_avatar
from liveavatar.engines.registry import create_engine
from liveavatar.landmarks.controls import ExpressionControls
from liveavatar.pipeline import CollectingObserver, Runner, RunnerConfig, parse_source
from liveavatar.render.rasterize import rasterize_landmarks


@pytest.fixture(scope="module")
def avatar(portraits, checkpoint):
    return build_avatar([portraits / "painting_mona_lisa.jpg"], checkpoint)


def test_set_expression_takes_effect_on_the_next_frame(checkpoint, avatar):
    """The scripted performance moves the head and face; with every gain at 0 the generator is given the
    portrait's rest landmarks on every following frame, and with gains back at 1 it moves again."""
    observer = CollectingObserver()
    config = RunnerConfig(source=parse_source("scripted"), output_size=(160, 120), engine="torch", duration_s=60.0)
    runner = Runner(config, checkpoint, avatar, observer, engine_factory=create_engine)
    rest = rasterize_landmarks(avatar.landmarks, checkpoint.config.image_size)
    runner.start()
    try:
        wait_until(lambda: observer.frames >= 30)  # into the performance: the head is turned
        assert not np.array_equal(observer.last_report.landmark_image, rest)
        frozen = ExpressionControls(rotation=0, position=0, brows=0, eyes=0, gaze=0, mouth=0)
        runner.set_expression(frozen)
        assert runner.expression == frozen
        start = observer.frames
        # frames already past retargeting when the controls changed come out first: up to one in each of the
        # pipeline's stages (processing, the work slot, inference, the render slot, compose)
        wait_until(lambda: observer.frames >= start + 6)
        for _ in range(5):
            n = observer.frames
            wait_until(lambda n=n: observer.frames > n)
            np.testing.assert_array_equal(observer.last_report.landmark_image, rest)
        runner.set_expression(ExpressionControls())
        start = observer.frames
        wait_until(lambda: observer.frames >= start + 10)
        assert not np.array_equal(observer.last_report.landmark_image, rest)
        with pytest.raises(TypeError):
            runner.set_expression({"mouth": 0})
    finally:
        runner.stop()


def test_run_flags_build_the_controls_and_refuse_bad_values(tmp_path, checkpoint_path, avatar, capsys):
    from liveavatar.cli import build_parser, main
    from liveavatar.commands.run import build_config

    avatar_path = save_avatar(avatar, tmp_path / "a.avatar")
    base = ["run", "--avatar", str(avatar_path), "--checkpoint", str(checkpoint_path), "--source", "scripted"]
    flags = ["--mouth", "1.5", "--head-rotation", "0", "--gaze", "2", "--region", "expression"]
    args = build_parser().parse_args(base + ["--sink", "http:8765", *flags])
    config = build_config(args)
    assert config.expression == ExpressionControls(mouth=1.5, rotation=0.0, gaze=2.0, region="expression")
    assert main(base + ["--sink", f"record:{tmp_path / 'o.mp4'}", "--brows", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "liveavatar run: error: brows gain 3.0 is out of range; use a number from 0 to 2 (1 is the driver's "
        "motion as is)"
    )
    assert not (tmp_path / "o.mp4").exists()


def test_a_neutral_captured_smiling_is_reported_once(avatar):
    from liveavatar.pipeline import TrackingConfig
    from liveavatar.pipeline.stages import Processor
    from liveavatar.types import FaceLandmarks

    rest = np.asarray(avatar.landmarks, np.float32)
    smiling = rest.copy()
    centre = rest[48:68].mean(0)
    smiling[48:68, 0] = centre[0] + 1.4 * (rest[48:68, 0] - centre[0])  # the mouth 40% wider
    image = np.zeros((256, 256, 3), np.uint8)
    processor = Processor(TrackingConfig(neutral_frames=2), 256)
    for i in range(3):
        processor.process(image, FaceLandmarks(smiling, (256, 256)), i / 25, avatar, "relative")
    assert "you were smiling" in processor.neutral_warning and "press Calibrate" in processor.neutral_warning
    processor.calibrate()
    for i in range(3, 6):
        processor.process(image, FaceLandmarks(rest, (256, 256)), i / 25, avatar, "relative")
    assert processor.neutral_warning == ""


class _SmilingSource:
    """A source whose face smiles broadly for its first frames (while the neutral is captured), then rests."""

    live = False
    name = "smiling then resting"
    fps = 25.0

    def __init__(self, rest: np.ndarray, frames: int = 40) -> None:
        self.rest = rest
        self.smiling = rest.copy()
        centre = rest[48:68].mean(0)
        self.smiling[48:68, 0] = centre[0] + 1.4 * (rest[48:68, 0] - centre[0])
        self.frames, self.index = frames, 0

    def read(self):
        from liveavatar.capture import Captured
        from liveavatar.types import FaceLandmarks, Frame

        if self.index >= self.frames:
            return None
        points = self.smiling if self.index < 10 else self.rest
        image = np.full((256, 256, 3), 24, np.uint8)
        captured = Captured(Frame(image, time.monotonic(), self.index), FaceLandmarks(points, (256, 256)))
        self.index += 1
        time.sleep(0.01)
        return captured

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_the_runner_reports_a_wrong_neutral_once_per_capture(checkpoint, avatar):
    observer = CollectingObserver()
    config = RunnerConfig(source=parse_source("scripted"), output_size=(160, 120), engine="torch", lossless=True)
    source = _SmilingSource(np.asarray(avatar.landmarks, np.float32))
    runner = Runner(config, checkpoint, avatar, observer, source=source, engine_factory=create_engine)
    runner.start()
    assert runner.wait(60)
    notes = [e for e in observer.errors if e.source == "calibration"]
    assert len(notes) == 1 and not notes[0].fatal
    assert notes[0].message.startswith("the neutral pose looks wrong (you were smiling when it was captured)")


@pytest.mark.parametrize("mouth_rest", [True, False])
def test_the_live_processor_adapts_the_mouth_rest_unless_turned_off(avatar, mouth_rest):
    """Calibrated with the mouth open (scripted points: the portrait's own face, lower lip and chin
    dropped by 0.2 eye distances), the driver closes its mouth, then opens it as at calibration: with
    TrackingConfig.mouth_rest the avatar's mouth opens that far; without, it stays at its rest."""
    from liveavatar.landmarks.retarget import MOUTH_CLOSED_GAP
    from liveavatar.pipeline import TrackingConfig
    from liveavatar.pipeline.stages import Processor
    from liveavatar.types import FaceLandmarks

    rest = np.asarray(avatar.landmarks, np.float32)
    iod = float(np.linalg.norm(rest[36:42].mean(0) - rest[42:48].mean(0)))
    opened = rest.copy()
    opened[[55, 56, 57, 58, 59, 65, 66, 67], 1] += 0.2 * iod
    opened[[7, 8, 9], 1] += 0.12 * iod

    def gap(points: np.ndarray) -> float:  # inner lips' opening beyond the portrait's, in eye distances
        lower, upper = [67, 66, 65], [61, 62, 63]
        return float(np.mean((points[lower, 1] - points[upper, 1]) - (rest[lower, 1] - rest[upper, 1]))) / iod

    image = np.zeros((256, 256, 3), np.uint8)
    processor = Processor(TrackingConfig(neutral_frames=2, mouth_rest=mouth_rest), 256)
    gaps = []
    for i, points in enumerate([opened, opened, rest, opened]):
        driven, _ = processor.process(image, FaceLandmarks(points, (256, 256)), i / 25, avatar, "relative")
        gaps.append(gap(driven.points))
    # at the neutral: with the rest, opened as far as the driver's is beyond a closed mouth's gap (the rest
    # starts there); without, the portrait's mouth
    lower, upper = [67, 66, 65], [61, 62, 63]
    beyond_closed = float(np.mean(opened[lower, 1] - opened[upper, 1])) / iod - MOUTH_CLOSED_GAP
    assert gaps[1] == pytest.approx(beyond_closed if mouth_rest else 0.0, abs=0.01)
    assert gaps[3] == pytest.approx(0.2 if mouth_rest else 0.0, abs=0.01)
    assert ("press Calibrate" in processor.neutral_warning) == (not mouth_rest)


@pytest.mark.parametrize("carried", [True, False])
def test_switching_avatars_keeps_the_drivers_mouth_rest(avatar, carried, monkeypatch):
    """Calibrated with the mouth open, the driver closes it on avatar A, then opens it as at calibration on
    avatar B: B's mouth opens as A's would have. The rest is the driver's, found once for the session
    (carried=False shows what an avatar switch did before: B measured from a closed mouth's gap, not the
    driver's, until the next closing)."""
    import dataclasses

    from liveavatar.landmarks.retarget import MOUTH_CLOSED_GAP, Retargeter
    from liveavatar.pipeline import TrackingConfig
    from liveavatar.pipeline.stages import Processor
    from liveavatar.types import FaceLandmarks

    rest = np.asarray(avatar.landmarks, np.float32)
    iod = float(np.linalg.norm(rest[36:42].mean(0) - rest[42:48].mean(0)))
    opened = rest.copy()
    opened[[55, 56, 57, 58, 59, 65, 66, 67], 1] += 0.2 * iod
    opened[[7, 8, 9], 1] += 0.12 * iod
    other = dataclasses.replace(avatar, landmarks=rest.copy())  # another avatar: its own retargeter

    def gap(points: np.ndarray) -> float:
        lower, upper = [67, 66, 65], [61, 62, 63]
        return float(np.mean((points[lower, 1] - points[upper, 1]) - (rest[lower, 1] - rest[upper, 1]))) / iod

    if not carried:  # the switch as it was: nothing handed over
        monkeypatch.setattr(Retargeter, "continue_rests", lambda self, other: None)
    image = np.zeros((256, 256, 3), np.uint8)
    processor = Processor(TrackingConfig(neutral_frames=2), 256)
    frames = [(opened, avatar), (opened, avatar), (rest, avatar), (opened, other), (opened, avatar)]
    gaps = []
    for i, (points, shown) in enumerate(frames):
        driven, _ = processor.process(image, FaceLandmarks(points, (256, 256)), i / 25, shown, "relative")
        gaps.append(gap(driven.points))
    assert gaps[2] == pytest.approx(0.0, abs=0.01)  # closed on A: A's own mouth
    # opened on B: as far as on A, or (not carried) short by the closed mouth's gap B's rest starts at
    assert gaps[3] == pytest.approx(0.2 if carried else 0.2 - MOUTH_CLOSED_GAP, abs=0.01)
    assert gaps[4] == pytest.approx(0.2, abs=0.01)  # and back on A, which found the rest itself
