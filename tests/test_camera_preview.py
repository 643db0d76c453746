"""CameraPreview (source + tracker, no avatar) on a real driving clip with real mediapipe, Qt-free."""

from __future__ import annotations

import threading
import time

import pytest

from liveavatar.errors import InputError
from liveavatar.live.events import CollectingObserver
from liveavatar.live.spec import SourceSpec
from liveavatar.pipeline.camera_preview import THREAD_NAME, CameraPreview

CLIP = "lp_d0_man_greenscreen.mp4"


def preview_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_NAME) and t.is_alive()]


def test_reports_camera_frames_with_the_tracked_face_and_no_output(driving):
    observer = CollectingObserver()
    preview = CameraPreview(SourceSpec("video", path=driving / CLIP, realtime=True, loop=True), observer=observer)
    preview.start()
    deadline = time.monotonic() + 60
    while observer.frames < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    preview.stop("enough")
    assert preview.wait(10) and observer.stopped == "enough" and preview_threads() == []
    report = observer.last_report
    assert observer.frames >= 5 and report.output is None and report.face is None and report.avatar == ""
    assert report.camera.shape == (512, 512, 3) and report.landmarks is not None
    assert report.landmarks.points68.shape == (68, 2) and report.message.startswith("1 face")
    assert "track" in report.timings


def test_a_file_that_ends_stops_the_preview_by_itself(driving):
    observer = CollectingObserver()
    preview = CameraPreview(SourceSpec("video", path=driving / CLIP, realtime=False), observer=observer)
    preview.start()
    assert preview.wait(120)
    assert observer.stopped == "source ended" and observer.frames > 30 and not preview.running


def test_the_scripted_source_needs_an_avatar():
    preview = CameraPreview(SourceSpec("scripted"))
    with pytest.raises(InputError, match="needs an avatar"):
        preview.start()
    assert preview.wait(0) and preview_threads() == []
