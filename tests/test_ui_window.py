"""The desktop app's window, driven offscreen with pytest-qt on real parts: a tiny random-weight
checkpoint, avatars built from real portraits by real mediapipe, a real driving clip through the real
runner, real MP4 files written and read back, and the real (absent) virtual camera device."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

CLIP = "lp_d0_man_greenscreen.mp4"  # 3 s, 512×512, one frontal face; loops in the app
START_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def tiny_checkpoint(checkpoint_path) -> Path:
    """conftest's tiny random-weight checkpoint, under the name this module's tests (and those that import
    them) use."""
    return checkpoint_path


@pytest.fixture(scope="module")
def avatar_files(tiny_checkpoint, portraits, tmp_path_factory) -> list[Path]:
    """Two avatars built once for the module (the build through the window is tested on its own)."""
    from liveavatar.avatar import save_avatar
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.models.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(tiny_checkpoint, discriminator=False)
    folder = tmp_path_factory.mktemp("avatars")
    files = []
    for name, image in (("Mona Lisa", "painting_mona_lisa.jpg"), ("Gogol", "painting_gogol.png")):
        avatar = build_avatar([portraits / image], checkpoint, name=name)
        files.append(save_avatar(avatar, folder / f"{image.split('.')[0]}.avatar"))
    return files


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("LIVEAVATAR_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def app(qapp):
    from liveavatar.ui.app import make_application

    return make_application()


def liveavatar_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("liveavatar-") and t.is_alive()]


def open_window(qtbot, data_dir: Path, checkpoint: Path | None, avatars=(), source: str | None = None, resize=True):
    from liveavatar.ui.main_window import AppOptions, MainWindow

    folder = data_dir / "avatars"
    folder.mkdir(parents=True, exist_ok=True)
    for path in avatars:
        shutil.copy(path, folder / path.name)
    window = MainWindow(AppOptions(source=source, checkpoint=checkpoint, engine="torch"))
    qtbot.addWidget(window)
    if resize:
        window.resize(1280, 720)
    window.show()
    qtbot.waitExposed(window)
    return window


def close_cleanly(qtbot, window) -> None:
    window.close()
    assert not window.worker_threads_busy()
    assert liveavatar_threads() == []


def drop_files(widget, paths: list[Path]) -> None:
    """Drops files on a widget the way a file manager does (a drag enter, then the drop)."""
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = widget.rect().center()
    enter = QDragEnterEvent(
        pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    widget.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    widget.dropEvent(drop)


def wait_running(qtbot, window, frames: int = 3) -> None:
    qtbot.waitUntil(lambda: window.frames_shown >= frames, timeout=START_TIMEOUT_MS)


def test_window_opens_and_closes_cleanly(qtbot, app, data_dir, tiny_checkpoint):
    window = open_window(qtbot, data_dir, tiny_checkpoint)
    qtbot.waitUntil(lambda: "add a portrait" in window.camera_view.placeholder, timeout=30_000)
    assert window.checkpoint is not None and window.add_button.isEnabled() and not window.banner_box.isVisible()
    assert window.gallery.count() == 0
    window.help.toggle()  # F1's overlay lists the shortcuts the actions use
    assert window.help.isVisible() and any(keys == "C" for keys, _ in window.help.shortcuts)
    close_cleanly(qtbot, window)
    assert (data_dir / "settings.ini").is_file()


def test_without_a_checkpoint_the_window_says_so(qtbot, app, data_dir, monkeypatch):
    from liveavatar.models import checkpoint as checkpoint_module

    monkeypatch.setattr(checkpoint_module, "bundled_checkpoint", lambda: None)  # a build that ships none
    window = open_window(qtbot, data_dir, None)
    qtbot.waitUntil(lambda: window.banner_box.isVisible(), timeout=10_000)
    assert "no trained checkpoint is available" in window.banner.text()
    assert "cannot build avatars or drive them" in window.banner.text()
    assert not window.add_button.isEnabled()
    window.add_portraits([Path("whatever.jpg")])  # a drop: a message, no crash, no build
    assert any("Open a model first" in m for m in window.status.messages())
    close_cleanly(qtbot, window)


def test_video_source_drives_the_live_view(qtbot, app, data_dir, tiny_checkpoint, avatar_files, driving):
    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files[:1], source=str(driving / CLIP))
    wait_running(qtbot, window, frames=8)
    report = window.last_report
    assert report.avatar == "Mona Lisa" and report.landmarks is not None
    assert window.camera_view.has_frame and window.avatar_view.has_frame
    qtbot.waitUntil(lambda: window.camera_view.frames_painted > 0, timeout=30_000)
    assert window.avatar_view.image_rect().width() > 300  # the live view is large at 1280×720
    qtbot.waitUntil(lambda: window.last_stats is not None, timeout=10_000)
    assert "fps" in window.stats_label.text() and "latency" in window.stats_label.text()
    assert window.engine_panel.using.text().endswith("torch-cpu</b>")
    # The landmarks overlay toggles with L; the frame keeps coming either way.
    assert window.camera_view.show_landmarks
    qtbot.keyClick(window, Qt.Key.Key_L)
    assert not window.camera_view.show_landmarks
    close_cleanly(qtbot, window)


def test_building_an_avatar_shows_progress_and_fills_the_gallery(
    qtbot, app, data_dir, tiny_checkpoint, portraits, tmp_path
):
    from liveavatar.ui.store import AvatarStore

    window = open_window(qtbot, data_dir, tiny_checkpoint)
    qtbot.waitUntil(lambda: window.checkpoint is not None, timeout=30_000)
    progress: list[float] = []
    window.library.build_progress.connect(lambda what, fraction: progress.append(fraction))
    with qtbot.waitSignal(window.library.build_ended, timeout=60_000) as ended:
        drop_files(window.gallery, [portraits / "painting_van_gogh_self_portrait_1889.jpg"])
        assert window.build_bar.isVisible()
    assert ended.args == [True]
    assert progress and progress[-1] == 1.0 and progress == sorted(progress)
    assert not window.build_bar.isVisible()
    assert window.gallery.count() == 1
    assert window.gallery.name_of(window.gallery.ids()[0]) == "painting van gogh self portrait 1889"
    stored = AvatarStore(data_dir / "avatars").load_all(window.checkpoint.sha256)
    assert len(stored) == 1 and stored[0].usable  # persisted in the data folder

    # An image with no face: one message in the status area, no dialog, and the gallery unchanged.
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 200, np.uint8))
    with qtbot.waitSignal(window.library.build_ended, timeout=60_000) as ended:
        window.add_portraits([blank])
    assert ended.args == [False]
    assert window.status.messages()[0].startswith("No avatar was made: no face found in wall.png")
    assert window.gallery.count() == 1
    close_cleanly(qtbot, window)


def test_hotkeys_switch_avatars_on_the_next_frames(qtbot, app, data_dir, tiny_checkpoint, avatar_files, driving):
    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files, source=str(driving / CLIP))
    wait_running(qtbot, window)
    names = [window.gallery.name_of(i) for i in window.gallery.ids()]
    assert sorted(names) == ["Gogol", "Mona Lisa"]
    first = window.last_report.avatar
    assert first == names[0]
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_2)
    qtbot.waitUntil(lambda: window.last_report.avatar == names[1], timeout=10_000)
    assert window.gallery.current_id() == window.gallery.ids()[1]
    qtbot.keyClick(window, Qt.Key.Key_1)
    qtbot.waitUntil(lambda: window.last_report.avatar == names[0], timeout=10_000)
    close_cleanly(qtbot, window)


def test_recording_on_then_off_leaves_a_readable_video(qtbot, app, data_dir, tiny_checkpoint, avatar_files, driving):
    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files[:1], source=str(driving / CLIP))
    wait_running(qtbot, window)
    state = window.outputs_panel.record.state
    qtbot.keyClick(window, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: state.text().startswith("Recording to liveavatar-"), timeout=10_000)
    shown = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown >= shown + 10, timeout=20_000)
    qtbot.keyClick(window, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: state.text().startswith("Saved "), timeout=20_000)
    files = list((data_dir / "recordings").iterdir())
    assert len(files) == 1 and files[0].suffix == ".mp4" and state.text() == f"Saved {files[0].name}"
    capture = cv2.VideoCapture(str(files[0]))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = capture.read()
    capture.release()
    assert ok and count > 0 and frame.shape == (720, 1280, 3)
    close_cleanly(qtbot, window)


def test_missing_virtual_camera_shows_the_fix(qtbot, app, data_dir, tiny_checkpoint, avatar_files, driving):
    """There is no v4l2loopback device on this machine, so pyvirtualcam really fails here."""
    from liveavatar.sinks.vcam import vcam_fix

    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files[:1], source=str(driving / CLIP))
    wait_running(qtbot, window)
    row = window.outputs_panel.vcam
    row.button.click()
    qtbot.waitUntil(lambda: row.state.text().startswith("Not available"), timeout=20_000)
    assert vcam_fix() in row.state.text()
    assert not row.button.isChecked()  # it is off again, and the live view goes on
    shown = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown > shown + 3, timeout=10_000)
    assert any(vcam_fix() in m for m in window.status.messages())
    close_cleanly(qtbot, window)


def test_stream_shows_its_address_and_serves_frames(qtbot, app, data_dir, tiny_checkpoint, avatar_files, driving):
    import socket
    import urllib.error
    import urllib.request

    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files[:1], source=str(driving / CLIP))
    wait_running(qtbot, window)
    row, panel = window.outputs_panel.http, window.outputs_panel
    with socket.socket() as busy:  # a port another program holds: the row says so, the run goes on
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        panel.port.setValue(busy.getsockname()[1])
        row.button.click()
        qtbot.waitUntil(lambda: row.state.text().startswith("Not started"), timeout=10_000)
        assert str(busy.getsockname()[1]) in row.state.text() and not row.button.isChecked()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    panel.port.setValue(port)
    row.button.click()
    qtbot.waitUntil(lambda: f"http://127.0.0.1:{port}/" in row.state.text(), timeout=10_000)
    # The address to paste into OBS carries the stream's token; without it the stream is refused.
    assert panel.address.startswith(f"http://127.0.0.1:{port}/?token=") and panel.copy_address.isVisible()
    panel.copy_address.click()
    assert app.clipboard().text() == panel.address
    token = panel.address.split("?token=")[1]
    assert token == window.settings.get_str("outputs/http_token")  # kept: OBS's source survives a restart
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/frame.jpg", timeout=10)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/frame.jpg?token={token}", timeout=10) as response:
        jpeg = np.frombuffer(response.read(), np.uint8)
    assert cv2.imdecode(jpeg, cv2.IMREAD_COLOR).shape == (720, 1280, 3)
    row.button.click()
    qtbot.waitUntil(lambda: row.state.text() == "", timeout=10_000)
    close_cleanly(qtbot, window)


def test_closing_during_a_build_and_a_recording_leaves_nothing_running_or_broken(
    qtbot, app, data_dir, tiny_checkpoint, avatar_files, driving, portraits
):
    from liveavatar.avatar import load_avatar

    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files[:1], source=str(driving / CLIP))
    wait_running(qtbot, window)
    window.outputs_panel.record.button.click()
    qtbot.waitUntil(lambda: window.outputs_panel.record.state.text().startswith("Recording to"), timeout=10_000)
    # The row says "Recording" as soon as the file is open, before any frame has reached it; a recording
    # closed in that instant holds nothing and is rightly not saved. Frames shown from now on were rendered
    # after the recorder joined the fan-out (the preview keeps only the newest frame, never a backlog), so a
    # few of them mean frames are in the file: the race this test used to lose under load.
    shown = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown >= shown + 3, timeout=START_TIMEOUT_MS)
    window.add_portraits([portraits / "painting_mona_lisa.jpg", portraits / "photo_grace_hopper.jpg"])
    assert window.library.building
    close_cleanly(qtbot, window)
    recordings = list((data_dir / "recordings").iterdir())
    assert len(recordings) == 1 and ".partial" not in recordings[0].name
    capture = cv2.VideoCapture(str(recordings[0]))
    assert capture.read()[0] and capture.get(cv2.CAP_PROP_FRAME_COUNT) > 0
    capture.release()
    avatars = list((data_dir / "avatars").iterdir())
    assert not [p for p in avatars if "partial" in p.name]
    for path in avatars:  # the build was cancelled, or it finished: either way every file is whole
        if path.suffix == ".avatar":
            load_avatar(path)


def test_settings_and_names_persist_across_runs(qtbot, app, data_dir, tiny_checkpoint, avatar_files):
    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files)
    qtbot.waitUntil(lambda: window.gallery.count() == 2, timeout=30_000)
    second = window.gallery.ids()[1]
    window.gallery.rename_requested.emit(second, "Nikolai")
    qtbot.waitUntil(lambda: window.gallery.name_of(second) == "Nikolai", timeout=5_000)
    window.choose_avatar(second)
    window.look_panel.mirror.setChecked(True)
    assert window.session.options.driver_mouth and window.look_panel.own_mouth.isChecked()  # on by default
    window.look_panel.own_mouth.setChecked(False)
    assert window.session.options.creases and window.look_panel.creases.isChecked()  # on by default
    window.look_panel.creases.setChecked(False)
    assert not window.session.options.creases
    window.look_panel.absolute.setChecked(True)
    window.look_panel.size_combo.setCurrentIndex(1)
    window.look_panel.size_combo.activated.emit(1)
    window.resize(760, 560)  # within the offscreen screen (800×600), which restoreGeometry respects
    close_cleanly(qtbot, window)

    again = open_window(qtbot, data_dir, tiny_checkpoint, resize=False)
    qtbot.waitUntil(lambda: again.gallery.count() == 2, timeout=30_000)
    assert again.gallery.current_id() == second and again.gallery.name_of(second) == "Nikolai"
    options = again.session.options
    assert options.mirror and options.mode == "absolute" and options.output_size == (1920, 1080)
    assert not options.driver_mouth and not again.look_panel.own_mouth.isChecked()
    assert not options.creases and not again.look_panel.creases.isChecked()
    assert again.look_panel.mirror.isChecked() and again.look_panel.absolute.isChecked()
    assert (again.width(), again.height()) == (760, 560)
    # Deleting the current avatar removes its file and moves to the one left.
    path = again.library.entry(second).path
    again.delete_avatar(second, confirm=False)
    assert again.gallery.count() == 1 and again.gallery.current_id() != second
    qtbot.waitUntil(lambda: not path.exists(), timeout=5_000)
    close_cleanly(qtbot, again)


def test_sigterm_closes_the_app_and_finalises_its_recording(
    qtbot, app, data_dir, tiny_checkpoint, avatar_files, driving
):
    """A real SIGTERM to this process, handled as the app installs it: the window closes as if the user
    closed it, and the recording that was running is saved and plays."""
    import os
    import signal

    from liveavatar.ui.app import close_on_stop_signals

    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files[:1], source=str(driving / CLIP))
    restore = close_on_stop_signals(window)
    try:
        wait_running(qtbot, window)
        window.outputs_panel.record.button.click()
        qtbot.waitUntil(lambda: window.outputs_panel.record.state.text().startswith("Recording to"), timeout=10_000)
        shown = window.frames_shown
        qtbot.waitUntil(lambda: window.frames_shown >= shown + 10, timeout=20_000)
        os.kill(os.getpid(), signal.SIGTERM)
        qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    finally:
        restore()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert not window.worker_threads_busy() and liveavatar_threads() == []
    (recording,) = (data_dir / "recordings").iterdir()
    assert ".partial" not in recording.name
    capture = cv2.VideoCapture(str(recording))
    assert capture.read()[0] and capture.get(cv2.CAP_PROP_FRAME_COUNT) >= 10
    capture.release()


def test_a_recordings_folder_that_cannot_be_made_is_one_line_and_the_run_goes_on(
    qtbot, app, data_dir, tiny_checkpoint, avatar_files, driving, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    window = open_window(qtbot, data_dir, tiny_checkpoint, avatar_files[:1], source=str(driving / CLIP))
    wait_running(qtbot, window)
    window.settings.set("outputs/record_dir", str(blocker / "recordings"))
    row = window.outputs_panel.record
    row.button.click()
    qtbot.waitUntil(lambda: row.state.text().startswith("Recording failed"), timeout=10_000)
    assert f"cannot create the recordings folder {blocker / 'recordings'}" in row.state.text()
    assert "\n" not in row.state.text() and "Error(" not in row.state.text() and not row.button.isChecked()
    shown = window.frames_shown
    qtbot.waitUntil(lambda: window.frames_shown >= shown + 5, timeout=20_000)  # the live view goes on
    close_cleanly(qtbot, window)
