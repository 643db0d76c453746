"""The app's expression panel driven offscreen with pytest-qt: gains and region reach the running
pipeline on the next frames, they persist in the settings, and edit mode poses the avatar without a
camera and saves the still (with the AI mark)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

import test_ui_window as window_tests  # noqa: E402 - its fixtures and helpers are shared here

app, avatar_files, data_dir, tiny_checkpoint = (
    window_tests.app,
    window_tests.avatar_files,
    window_tests.data_dir,
    window_tests.tiny_checkpoint,
)
close_cleanly, open_window, wait_running = (
    window_tests.close_cleanly,
    window_tests.open_window,
    window_tests.wait_running,
)

from liveavatar.disclosure import mark_box  # noqa: E402
from liveavatar.landmarks.controls import ExpressionControls  # noqa: E402
from liveavatar.render.rasterize import rasterize_landmarks  # noqa: E402


def test_the_panel_changes_the_running_avatar_on_the_next_frames(qtbot, app, data_dir, tiny_checkpoint, avatar_files):
    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files[:1], source="scripted")
    wait_running(qtbot, window, frames=5)
    panel = window.expression_panel
    panel.gains["mouth"].slider.setValue(150)
    panel.region.setCurrentIndex(panel.region.findData("expression"))
    expected = ExpressionControls(mouth=1.5, region="expression")
    assert window.session.options.expression == expected
    qtbot.waitUntil(lambda: window.session.runner.expression == expected, timeout=5_000)

    # Every gain at 0: the generator gets the portrait's rest landmarks from the next frames on.
    for row in panel.gains.values():
        row.slider.setValue(0)
    runner = window.session.runner
    assert runner.expression == ExpressionControls(**dict.fromkeys(panel.gains, 0.0), region="expression")
    avatar = window.session.avatar
    rest = rasterize_landmarks(avatar.landmarks, avatar.crop.shape[0])
    start = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown >= start + 3, timeout=20_000)
    np.testing.assert_array_equal(window.last_report.landmark_image, rest)

    panel.reset.click()
    assert panel.controls() == ExpressionControls() and runner.expression == ExpressionControls()
    start = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown >= start + 3, timeout=20_000)
    qtbot.waitUntil(lambda: not np.array_equal(window.last_report.landmark_image, rest), timeout=20_000)
    close_cleanly(qtbot, window)


def test_expression_settings_persist_and_bad_stored_values_fall_back(
    qtbot, app, data_dir, tiny_checkpoint, avatar_files
):
    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files[:1])
    panel = window.expression_panel
    panel.gains["brows"].slider.setValue(50)
    panel.region.setCurrentIndex(panel.region.findData("lips"))
    close_cleanly(qtbot, window)

    window = open_window(qtbot, data_dir, tiny_checkpoint)
    assert window.expression_panel.controls() == ExpressionControls(brows=0.5, region="lips")
    assert window.session.options.expression == ExpressionControls(brows=0.5, region="lips")
    close_cleanly(qtbot, window)
    text = (data_dir / "settings.ini").read_text().replace("mouth=1", "mouth=9")  # a damaged file
    (data_dir / "settings.ini").write_text(text)

    window = open_window(qtbot, data_dir, tiny_checkpoint)
    assert window.expression_panel.controls() == ExpressionControls()
    assert any("expression settings were not usable" in m for m in window.status.messages())
    close_cleanly(qtbot, window)


def test_edit_mode_poses_the_avatar_without_a_camera_and_saves_the_still(
    qtbot, app, data_dir, tiny_checkpoint, avatar_files, tmp_path
):
    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files)  # no source: no camera
    qtbot.waitUntil(lambda: window.session.avatar is not None, timeout=30_000)
    assert window.session.runner is None
    panel = window.expression_panel
    window.save_still(tmp_path / "early.png")
    assert any("Nothing to save yet" in m for m in window.status.messages())
    panel.edit.setChecked(True)
    assert panel.edit_box.isVisibleTo(panel)
    qtbot.waitUntil(lambda: window.editor.renders >= 1, timeout=30_000)
    rest = window.editor.last
    np.testing.assert_array_equal(rest.points, window.session.avatar.landmarks)
    assert window.avatar_view.has_frame

    panel.pose_sliders["yaw"].slider.setValue(20)
    panel.pose_sliders["mouth"].slider.setValue(60)
    qtbot.waitUntil(
        lambda: window.editor.last is not None and window.editor.last.points[30, 0] != rest.points[30, 0], timeout=30000
    )
    qtbot.waitUntil(lambda: not window.editor._busy, timeout=30_000)
    posed = window.editor.last
    assert window.expression_panel.pose().yaw == 20 and window.expression_panel.pose().mouth == 0.6

    out = tmp_path / "still.png"
    window.save_still(out)
    saved = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(saved, posed.output)
    x0, y0, x1, y1 = mark_box(saved.shape[1], saved.shape[0])
    assert saved[y0:y1, x0:x1].max() > 200  # the AI mark's white letters
    assert any("Still saved" in m for m in window.status.messages())

    panel.pose_reset.click()
    qtbot.waitUntil(
        lambda: not window.editor._busy and window.editor.last.points[30, 0] == rest.points[30, 0], timeout=30000
    )
    other = next(i for i in window.gallery.ids() if i != window.gallery.current_id())
    window.choose_avatar(other)  # edit mode shows the newly chosen avatar at once
    landmarks = window.session.avatar.landmarks
    qtbot.waitUntil(lambda: np.array_equal(window.editor.last.points, landmarks), timeout=30_000)
    panel.edit.setChecked(False)
    assert not panel.edit_box.isVisibleTo(panel)
    close_cleanly(qtbot, window)


def test_a_gain_slider_takes_the_wheel_only_when_focused(qtbot, app):
    """Scrolling the panel over a slider changed (and saved) a gain on the way; now the wheel scrolls."""
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget

    from ui.widgets.expression import ExpressionPanel

    host = QWidget()
    layout = QVBoxLayout(host)
    other = QLineEdit()
    panel = ExpressionPanel()
    layout.addWidget(other)
    layout.addWidget(panel)
    qtbot.addWidget(host)
    host.show()
    qtbot.waitExposed(host)
    slider = panel.gains["mouth"].slider
    before = slider.value()
    changed = []
    panel.controls_changed.connect(changed.append)

    def wheel() -> bool:
        centre = QPointF(slider.width() / 2, slider.height() / 2)
        event = QWheelEvent(
            centre, slider.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
        )  # fmt: skip
        QApplication.sendEvent(slider, event)
        return event.isAccepted()

    other.setFocus()
    qtbot.waitUntil(other.hasFocus)
    assert not wheel() and slider.value() == before and changed == []
    slider.setFocus()
    qtbot.waitUntil(slider.hasFocus)
    assert wheel() and slider.value() != before
