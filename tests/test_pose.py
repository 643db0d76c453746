"""Posing by hand: FaceRig round trips on the landmarks, and `liveavatar pose` end to end."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from liveavatar.disclosure import mark_box
from liveavatar.landmarks.calibration import mouth_gap
from liveavatar.landmarks.posing import PoseSettings, parse_pose, pose_points
from liveavatar.landmarks.retarget import eye_openness
from liveavatar.landmarks.scripted import FaceRig
from liveavatar.sinks.mp4tags import read_tags
from liveavatar.types import FaceLandmarks

SIZE = 256


@pytest.fixture(scope="module")
def portrait_points(portraits) -> np.ndarray:
    from conftest import read_rgb

    from liveavatar.landmarks.tracker import detect_portrait
    from liveavatar.render.align import face_crop

    face, _ = detect_portrait(read_rgb(portraits / "painting_mona_lisa.jpg"), "mona lisa")
    return face_crop(face.points68, SIZE).points_to_crop(face.points68).astype(np.float32)


def _angles_back(rest: np.ndarray, posed: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll (degrees) measured back from posed 2D landmarks: the affine camera that best maps
    the rig's 3D rest points onto them, read as a rotation in the face's axes."""
    rig = FaceRig(FaceLandmarks(rest, (SIZE, SIZE)))
    basis = np.column_stack([rig.across, rig.down])
    rest3 = np.column_stack([(rest - rig.centre[:2]) @ basis, rig.depth - rig.centre[2]])
    out2 = (posed - posed.mean(0)) @ basis
    m, *_ = np.linalg.lstsq(rest3 - rest3.mean(0), out2, rcond=None)  # 3×2: out2 ≈ rest3 · m
    # The rig turns by R = R_pitch · R_yaw (then roll in the image plane); m's columns are R's first two rows.
    r = np.vstack([m[:, 0], m[:, 1], np.cross(m[:, 0], m[:, 1])])
    yaw = math.degrees(math.atan2(r[0, 2], r[0, 0]))
    pitch = math.degrees(math.atan2(r[2, 1], r[1, 1]))
    roll = math.degrees(math.atan2(-r[0, 1], r[1, 1]))
    return yaw, pitch, roll


def test_all_zeros_reproduce_the_portraits_neutral_landmarks(portrait_points):
    np.testing.assert_array_equal(pose_points(portrait_points, PoseSettings(), SIZE), portrait_points)


@pytest.mark.parametrize("yaw, pitch", [(15.0, 0.0), (-20.0, 0.0), (0.0, -5.0), (15.0, -5.0)])
def test_head_angles_are_measured_back_from_the_output_landmarks(portrait_points, yaw, pitch):
    posed = pose_points(portrait_points, PoseSettings(yaw=yaw, pitch=pitch), SIZE)
    got_yaw, got_pitch, got_roll = _angles_back(portrait_points, posed)
    assert got_yaw == pytest.approx(yaw, abs=0.5)
    assert got_pitch == pytest.approx(pitch, abs=0.5)
    assert got_roll == pytest.approx(0.0, abs=0.5)


def test_roll_tilts_the_eye_line(portrait_points):
    def eye_line(p):
        v = p[42:48].mean(0) - p[36:42].mean(0)
        return math.degrees(math.atan2(v[1], v[0]))

    posed = pose_points(portrait_points, PoseSettings(roll=10.0), SIZE)
    assert eye_line(posed) - eye_line(portrait_points) == pytest.approx(10.0, abs=0.01)


def test_expressions_move_their_parts(portrait_points):
    rest = portrait_points
    closed = pose_points(rest, PoseSettings(eyes=1.0), SIZE)
    np.testing.assert_allclose(eye_openness(closed, rest), 0.0, atol=1e-5)
    np.testing.assert_allclose(closed[48:], rest[48:])  # only the eyes moved
    opened = pose_points(rest, PoseSettings(mouth=1.0), SIZE)
    assert mouth_gap(opened) - mouth_gap(rest) == pytest.approx(0.35, abs=0.02)  # eye distances
    smile = pose_points(rest, PoseSettings(smile=1.0), SIZE)
    assert np.linalg.norm(smile[54] - smile[48]) > np.linalg.norm(rest[54] - rest[48]) + 0.2 * 60
    raised = pose_points(rest, PoseSettings(brows=1.0), SIZE)
    assert np.all(raised[17:27, 1] < rest[17:27, 1]) and np.array_equal(raised[27:], rest[27:])


def test_settings_are_validated_and_parsed():
    from liveavatar.errors import InputError

    assert parse_pose("yaw=15, smile=0.6") == PoseSettings(yaw=15.0, smile=0.6)
    assert parse_pose("") == PoseSettings()
    with pytest.raises(InputError, match=r"yaw 60.0 is out of range; use -45 to 45"):
        PoseSettings(yaw=60.0)
    with pytest.raises(InputError, match="NAME=VALUE"):
        parse_pose("grin=1")
    with pytest.raises(InputError, match="not a number"):
        parse_pose("yaw=left")
    half = PoseSettings().blend(PoseSettings(yaw=20, smile=1), 0.5)
    assert half == PoseSettings(yaw=10, smile=0.5)


@pytest.mark.slow
def test_cli_pose_writes_a_marked_still_and_a_tagged_sweep(portraits, checkpoint_path, tmp_path, capsys):
    from liveavatar.cli import main

    portrait = str(portraits / "painting_mona_lisa.jpg")
    base = ["pose", portrait, "--checkpoint", str(checkpoint_path), "--engine", "torch"]
    out = tmp_path / "still.png"
    assert main(base + ["--yaw", "15", "--smile", "0.6", "-o", str(out)]) == 0
    assert "yaw=15, smile=0.6" in capsys.readouterr().out
    unmarked = tmp_path / "unmarked.png"
    assert main(base + ["--yaw", "15", "--smile", "0.6", "--no-ai-mark", "-o", str(unmarked)]) == 0
    a, b = cv2.imread(str(out)), cv2.imread(str(unmarked))
    x0, y0, x1, y1 = mark_box(a.shape[1], a.shape[0])
    assert not np.array_equal(a[y0:y1, x0:x1], b[y0:y1, x0:x1])  # the mark is there
    outside = np.ones(a.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(a[outside], b[outside])  # and nothing else differs

    clip = tmp_path / "sweep.mp4"
    assert main(base + ["--yaw", "20", "--sweep", "--from", "yaw=-20", "--frames", "12", "-o", str(clip)]) == 0
    cap = cv2.VideoCapture(str(clip))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    assert count == 12
    assert "LiveAvatar" in " ".join(read_tags(clip).values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["still.png", "sweep.mp4", "unmarked.png"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--yaw", "60", "-o", "x.png"], "yaw 60.0 is out of range; use -45 to 45"),
        (["-o", "x.mp4"], "name the output .png or .jpg"),
        (["--sweep", "-o", "x.png"], "name the output .mp4"),
        (["--from", "yaw=3", "-o", "x.png"], "add --sweep"),
        (["--sweep", "--from", "grin=1", "-o", "x.mp4"], "NAME=VALUE"),
        (["-o", "missing/x.png"], "does not exist"),
    ],
)
def test_cli_pose_mistakes_are_one_line(portraits, checkpoint_path, tmp_path, capsys, monkeypatch, extra, message):
    from liveavatar.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["pose", str(portraits / "painting_mona_lisa.jpg"), "--checkpoint", str(checkpoint_path), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("liveavatar pose: error:") and message in err[0]
    assert list(tmp_path.iterdir()) == []
