"""CameraPreview: the source and the face tracker alone, for a window that has no avatar yet.

A new user's first minute: a camera is chosen but no portrait exists, so the runner (which needs an
avatar to drive) cannot start; the camera pane still shows the camera and the face being tracked, so the
user sees at once that the camera and the tracking work. One thread reads, tracks and reports:

    preview = CameraPreview(source_spec, tracking_config, observer)
    preview.start()         # opens the source (raises LiveAvatarError, e.g. a camera in use), starts the thread
    preview.stop(reason)    # idempotent; joins the thread, closes the source; then observer.on_stopped(reason)

The observer gets the runner's FrameReport with only the camera side filled: camera (H×W×3 uint8 RGB),
the tracked driver landmarks (68 points in camera pixels) or None, and the tracker's message; face,
output and landmark_image are None, avatar is "". A webcam that disappears is reported (on_error) and
reopened every reconnect_interval_s, as in the runner.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import TYPE_CHECKING

from liveavatar.errors import InputError, LiveAvatarError
from liveavatar.live.events import FrameReport, GuardedObserver, RunnerError, RunnerObserver
from liveavatar.live.spec import SourceSpec, TrackingConfig

if TYPE_CHECKING:  # capture loads when the preview starts
    from liveavatar.capture import FrameSource

THREAD_NAME = "liveavatar-camera-preview"
JOIN_TIMEOUT_S = 10.0
BLACK_LEVEL = 8.0  # mean pixel value under which a frame is called black (as the runner's processing says)


class CameraPreview:
    """See the module docstring. Runs once, like the Runner."""

    def __init__(
        self,
        source: SourceSpec,
        tracking: TrackingConfig | None = None,
        observer: RunnerObserver | None = None,
        reconnect_interval_s: float = 2.0,
    ) -> None:
        self.spec = source
        self.tracking = tracking or TrackingConfig()
        self.observer = observer or RunnerObserver()
        self._report = GuardedObserver(self.observer, self._failed)
        self.reconnect_interval_s = reconnect_interval_s
        self.engine_name = ""
        self.engine_skipped: list[str] = []
        self.frames = 0
        self._source: FrameSource | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._started = self._stopping = False
        self._reason = "stopped"

    def start(self) -> None:
        from liveavatar.capture import open_source

        with self._lock:
            if self._started:
                raise RuntimeError("a CameraPreview runs once; create a new one")
            self._started = True
        try:
            self._source = open_source(self.spec)
        except BaseException:
            self._stopped.set()
            raise
        self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self, reason: str = "stopped") -> None:
        with self._lock:
            if not self._started or self._stopping:
                return
            self._stopping = True
            self._reason = reason
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT_S)
        if self._source is not None:
            try:
                self._source.close()
            finally:
                self._source = None
        self._report.on_stopped(self._reason)
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    @property
    def running(self) -> bool:
        return self._started and not self._stopped.is_set()

    def _failed(self, method: str) -> None:
        traceback.print_exc()  # an observer bug must not stop the preview

    def _loop(self) -> None:
        from liveavatar.capture import SourceLost
        from liveavatar.landmarks.tracker import FaceTracker

        c = self.tracking
        tracker = None
        reason = "source ended"
        try:
            while not self._stop.is_set():
                try:
                    captured = self._opened().read()
                except SourceLost as exc:
                    self._report.on_error(RunnerError(f"{exc}; retrying", source="capture"))
                    if not self._reconnect():
                        break
                    continue
                if captured is None:
                    break
                frame = captured.frame
                started = time.perf_counter()
                image = frame.image
                if float(image[::8, ::8].mean()) < BLACK_LEVEL:
                    landmarks, message = None, "the frame is black (lens covered or camera starting)"
                else:
                    if tracker is None:  # built here: mediapipe is used by the thread that made it
                        tracker = FaceTracker(
                            "video", c.max_faces, c.min_detection_confidence, c.min_tracking_confidence
                        )
                    try:
                        result = tracker.track(image)
                        landmarks, message = result.landmarks, result.message
                    except InputError as exc:  # a frame mediapipe cannot take: said, and the next one comes
                        landmarks, message = None, str(exc)
                if landmarks is None and not message.startswith("the frame is black"):
                    message += "; add a portrait to drive it"
                track_ms = (time.perf_counter() - started) * 1000
                self.frames += 1
                self._report.on_frame(
                    FrameReport(
                        index=frame.index,
                        timestamp=frame.timestamp,
                        camera=image,
                        landmarks=landmarks,
                        message=message,
                        face=None,
                        output=None,
                        avatar="",
                        timings={"track": track_ms},
                        latency_ms=(time.monotonic() - frame.timestamp) * 1000,
                        landmark_image=None,
                    ),
                )
        except Exception as exc:  # noqa: BLE001 - reported, and the preview ends
            reason = f"the camera preview failed: {exc}"
            detail = "" if isinstance(exc, LiveAvatarError) else traceback.format_exc()
            self._report.on_error(RunnerError(reason, detail, fatal=True, source="capture"))
        finally:
            if tracker is not None:
                tracker.close()
        if not self._stop.is_set():
            # The source ended or failed on its own: stop from another thread (this one cannot join itself).
            threading.Thread(target=self.stop, args=(reason,), name=THREAD_NAME + "-stopper", daemon=True).start()

    def _opened(self) -> FrameSource:
        """The open source (the loop runs only between start() and stop(), which closes it)."""
        source = self._source
        if source is None:
            raise RuntimeError("the preview's source is closed")
        return source

    def _reconnect(self) -> bool:
        while not self._stop.wait(self.reconnect_interval_s):
            try:
                self._opened().reopen()
            except LiveAvatarError:
                continue
            self._report.on_error(RunnerError(f"{self._opened().name} is back", source="capture"))
            return True
        return False
