"""The gallery's store and the runner→Qt bridge: the parts of the app that need no window."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from liveavatar.avatar import Avatar
from liveavatar.errors import InputError


def _avatar(name: str, sha: str = "abc123") -> Avatar:
    rng = np.random.default_rng(len(name))
    return Avatar(
        name=name,
        psi=rng.standard_normal(16).astype(np.float32),
        preset="tiny",
        checkpoint_sha256=sha,
        crop=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8),
        landmarks=rng.uniform(0, 64, (68, 2)).astype(np.float32),
        portrait=rng.integers(0, 255, (96, 80, 3), dtype=np.uint8),
        crop_matrix=np.eye(2, 3),
        thumbnail=rng.integers(0, 255, (128, 128, 3), dtype=np.uint8),
        sources=["x.jpg"],
    )


def test_store_add_rename_delete_persist(tmp_path):
    from liveavatar.ui.store import AvatarStore

    store = AvatarStore(tmp_path / "avatars")
    a = store.add(_avatar("Mona Lisa"))
    b = store.add(_avatar("Gogol"))
    assert a.id != b.id and a.path.is_file()
    store.rename(a.id, "  La   Gioconda ")
    entries = AvatarStore(tmp_path / "avatars").load_all("abc123")  # a fresh store: read back from disk
    assert [e.name for e in entries] == ["La Gioconda", "Gogol"]
    assert entries[0].avatar.name == "La Gioconda" and entries[0].usable
    np.testing.assert_array_equal(entries[1].avatar.thumbnail, b.avatar.thumbnail)
    store.delete(a.id)
    assert not a.path.exists()
    assert [e.name for e in store.load_all("abc123")] == ["Gogol"]
    with pytest.raises(InputError, match="empty"):
        store.rename(b.id, "   ")
    assert not list((tmp_path / "avatars").glob("*.partial"))


def test_store_flags_other_model_and_corrupt_files_and_recovers_index(tmp_path):
    from liveavatar.ui.store import AvatarStore

    folder = tmp_path / "avatars"
    store = AvatarStore(folder)
    store.add(_avatar("Ours", sha="abc123"))
    store.add(_avatar("Theirs", sha="fff999"))
    (folder / "broken.avatar").write_bytes(b"not an avatar")
    (folder / "index.json").write_text("{ damaged")  # names and order lost, files still listed
    entries = store.load_all("abc123")
    by_name = {e.name: e for e in entries}
    assert set(by_name) == {"Ours", "Theirs", "broken"}
    assert by_name["Ours"].usable
    assert not by_name["Theirs"].usable and "another model" in by_name["Theirs"].problem
    assert by_name["broken"].avatar is None and "not a readable avatar" in by_name["broken"].problem
    index = json.loads((folder / "index.json").read_text())  # rewritten whole
    assert len(index["avatars"]) == 3


def test_bridge_keeps_only_the_latest_frame(qtbot):
    """Frames arriving faster than the GUI takes them replace each other: one queued notification, the
    newest report, and a count of the replaced ones; nothing reaches the GUI after detach()."""
    from PySide6.QtCore import QObject, QThread, Slot

    from liveavatar.live.events import FrameReport
    from liveavatar.ui.bridge import RunnerBridge

    class Receiver(QObject):  # lives on the GUI thread, like the window: the emit from a worker is queued
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[bool] = []

        @Slot()
        def frame_ready(self) -> None:
            self.calls.append(QThread.currentThread() is self.thread())

    bridge = RunnerBridge()
    receiver = Receiver()
    notified = receiver.calls
    bridge.frame_ready.connect(receiver.frame_ready)

    def report(i: int) -> FrameReport:
        img = np.zeros((4, 4, 3), np.uint8)
        return FrameReport(i, 0.0, img, None, "1 face", img, img, "a", {}, 0.0, img)

    def produce() -> None:
        for i in range(100):
            bridge.observer.on_frame(report(i))

    worker = threading.Thread(target=produce)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: len(notified) > 0, timeout=10_000)
    qtbot.wait(50)
    assert notified == [True]  # one notification, delivered on the GUI thread
    latest = bridge.take_frame()
    assert latest.index == 99 and bridge.replaced == 99
    assert bridge.take_frame() is None
    bridge.detach()
    bridge.observer.on_frame(report(100))
    qtbot.wait(50)
    assert len(notified) == 1 and bridge.take_frame() is None


def test_qt_binding_keeps_reference_counts(qapp):
    """PySide6 6.12.0 drops a reference to True on every Signal.emit (and to None in QPainter calls):
    on Python 3.11 the app then aborts after a few thousand frames. The pin in pyproject keeps it out;
    this catches any release that brings it back."""
    import sys

    from PySide6.QtCore import QObject, QPointF, Signal
    from PySide6.QtGui import QImage, QPainter, QPainterPath

    class Emitter(QObject):
        ping = Signal()

    emitter = Emitter()
    emitter.ping.connect(lambda: None)
    image = QImage(32, 32, QImage.Format.Format_RGB888)
    painter = QPainter(image)
    true_before, none_before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(500):
        emitter.ping.emit()
        path = QPainterPath(QPointF(1, 1))
        path.lineTo(QPointF(5, 5))
        painter.drawPath(path)
    painter.end()
    assert sys.getrefcount(True) - true_before > -50  # 6.12.0: -500
    assert sys.getrefcount(None) - none_before > -50
