"""A new user's first minutes in the app, driven offscreen with pytest-qt on real parts: a real driving clip
through the real camera preview (real mediapipe), the sample portrait built into a first avatar by the real
worker, and `liveavatar app --screenshot` run as the user would, with its console output read back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

CLIP = "lp_d0_man_greenscreen.mp4"  # 3 s, 512×512, one frontal face; loops in the app
TIMEOUT_MS = 60_000
NOISE = ("propagateSizeHints", "NORM_RECT", "killTimer", "Timers cannot", "W0000", "Traceback")


import test_ui_window as window_tests  # noqa: E402 - its fixtures and helpers are shared here

app, data_dir, tiny_checkpoint = window_tests.app, window_tests.data_dir, window_tests.tiny_checkpoint
liveavatar_threads = window_tests.liveavatar_threads


def open_window(qtbot, checkpoint: Path, source: str):
    from liveavatar.ui.main_window import AppOptions, MainWindow

    window = MainWindow(AppOptions(source=source, checkpoint=checkpoint, engine="torch"))
    qtbot.addWidget(window)
    window.resize(1280, 720)
    window.show()
    qtbot.waitExposed(window)
    return window


def close_cleanly(window) -> None:
    window.close()
    assert not window.worker_threads_busy()
    assert liveavatar_threads() == []


def test_the_camera_and_its_tracked_face_show_before_any_avatar(qtbot, app, data_dir, tiny_checkpoint, driving):
    from liveavatar.ui.main_window import AVATAR_PLACEHOLDER

    window = open_window(qtbot, tiny_checkpoint, str(driving / CLIP))
    qtbot.waitUntil(lambda: window.preview_frames >= 5, timeout=TIMEOUT_MS)
    assert window.session.state == "previewing" and window.session.runner is None
    assert window.gallery.count() == 0 and window.frames_shown == 0
    report = window.last_report
    assert report.output is None and report.avatar == ""
    assert report.landmarks is not None and report.landmarks.points68.shape == (68, 2)  # the face is tracked
    assert report.message.startswith("1 face")
    assert window.camera_view.has_frame and not window.avatar_view.has_frame
    assert window.avatar_view.placeholder == AVATAR_PLACEHOLDER
    qtbot.waitUntil(lambda: window.camera_view.frames_painted > 0, timeout=30_000)
    # The way to a first avatar is on screen: the sample, and the gallery's words.
    assert window.sample_button.isVisible() and window.sample_button.isEnabled()
    assert window.waiting_for_avatar()
    close_cleanly(window)


def test_the_sample_portrait_is_a_one_click_first_avatar(qtbot, app, data_dir, tiny_checkpoint, driving):
    from liveavatar.sample import SAMPLE_NAME

    window = open_window(qtbot, tiny_checkpoint, str(driving / CLIP))
    qtbot.waitUntil(lambda: window.session.state == "previewing", timeout=TIMEOUT_MS)
    progress: list[float] = []
    window.library.build_progress.connect(lambda what, fraction: progress.append(fraction))
    with qtbot.waitSignal(window.library.build_ended, timeout=TIMEOUT_MS) as ended:
        qtbot.mouseClick(window.sample_button, _left())
        assert window.build_bar.isVisible() and not window.sample_button.isVisible()
    assert ended.args == [True]
    assert progress and progress[-1] == 1.0
    assert window.gallery.count() == 1 and window.gallery.name_of(window.gallery.ids()[0]) == SAMPLE_NAME
    assert not window.sample_button.isVisible()
    # The new avatar is driven at once: the preview gives way to the real run.
    qtbot.waitUntil(lambda: window.frames_shown >= 3, timeout=TIMEOUT_MS)
    assert window.session.state == "running" and window.last_report.avatar == SAMPLE_NAME
    assert window.avatar_view.has_frame
    stored = list((data_dir / "avatars").glob("*.avatar"))
    assert len(stored) == 1  # kept in the gallery's folder like any other avatar

    # Deleting the only avatar goes back to the camera alone, and the sample is offered again.
    window.delete_avatar(window.gallery.ids()[0], confirm=False)
    qtbot.waitUntil(lambda: window.session.state == "previewing", timeout=TIMEOUT_MS)
    shown = window.preview_frames
    qtbot.waitUntil(lambda: window.preview_frames > shown + 2, timeout=TIMEOUT_MS)
    assert not window.avatar_view.has_frame and window.sample_button.isVisible()
    close_cleanly(window)


def _left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


@pytest.mark.slow
def test_screenshot_of_a_first_start_is_quiet(tmp_path, tiny_checkpoint, driving):
    """`liveavatar app --screenshot` with a source and no avatar: the camera with its face, and nothing on
    the console but the line saying where the picture went."""
    out = tmp_path / "first.png"
    env = dict(os.environ, LIVEAVATAR_DATA_DIR=str(tmp_path / "data"))
    env.pop("QT_QPA_PLATFORM", None)  # --screenshot picks offscreen itself
    result = subprocess.run(
        [sys.executable, "-m", "liveavatar", "--source", str(driving / CLIP), "--checkpoint", str(tiny_checkpoint),
         "--engine", "torch", "--screenshot", str(out), "--after-frames", "5"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith(f"wrote {out} (1280×720, after ") and "camera frames" in result.stdout
    for noise in NOISE:
        assert noise not in result.stderr, result.stderr[-2000:]
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (720, 1280)
    left = image[100:400, 40:360].reshape(-1, 3).astype(int)  # the camera pane shows the clip's green screen
    greenish = (left[:, 1] > left[:, 0] + 30) & (left[:, 1] > left[:, 2] + 30)
    assert greenish.mean() > 0.2


def test_without_a_camera_the_chosen_avatar_shows_as_a_still_with_the_way_to_move_it(
    qtbot, app, data_dir, tiny_checkpoint
):
    """Issue 22: with no camera the avatar pane stayed blank after a portrait was chosen."""
    from liveavatar.sample import SAMPLE_NAME
    from liveavatar.ui.main_window import STILL_NOTE, AppOptions, MainWindow

    window = MainWindow(AppOptions(source=None, checkpoint=tiny_checkpoint, engine="torch"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.sample_button.isEnabled(), timeout=TIMEOUT_MS)
    with qtbot.waitSignal(window.library.build_ended, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.sample_button, _left())
    qtbot.waitUntil(lambda: window.avatar_view.has_frame, timeout=TIMEOUT_MS)
    assert window.session.runner is None and window.frames_shown == 0  # nothing drives it
    assert window.avatar_view.caption == SAMPLE_NAME and window.avatar_view.message == STILL_NOTE
    assert "Video file" in STILL_NOTE and "Pose by hand" in STILL_NOTE
    assert window.avatar_view._array.shape == window.session.avatar.portrait.shape
    close_cleanly(window)
