"""Frame sources: webcam, video file, still image, and the scripted performance.

The colour order is fixed here: every source delivers H×W×3 uint8 RGB, C-contiguous, with a
time.monotonic() capture timestamp and a running index (types.Frame); a file, a still image and the script
also their own time (index over fps), which the tracking filters run on. The scripted source also delivers
the landmarks it animated, so the pipeline skips tracking for it.

Sources are opened by `open_source`, which checks everything it can before a thread starts (the file
exists and decodes, the camera opens) and raises InputError / DeviceUnavailableError naming the problem.
A live source (webcam) that stops delivering raises SourceLost from `read`; the runner reports it and
calls `reopen` until the camera is back.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from liveavatar.errors import DeviceUnavailableError, InputError, LiveAvatarError
from liveavatar.files.checks import require_file
from liveavatar.live.spec import SourceSpec
from liveavatar.types import FaceLandmarks, Frame


class SourceLost(LiveAvatarError):
    """A live source stopped delivering frames (camera unplugged, taken by another app)."""


@dataclass(frozen=True)
class Captured:
    """One frame from a source. landmarks: given by the source itself (scripted), else None (track it)."""

    frame: Frame
    landmarks: FaceLandmarks | None = None


class FrameSource(Protocol):
    name: str
    fps: float  # nominal frame rate (the file's, the camera's, or the requested one)
    live: bool  # True when frames may stop and come back (webcam)
    frame_count: int | None  # frames in one pass, when known (files, the scripted loop)

    def read(self) -> Captured | None:
        """The next frame; None when the source has ended. Paces itself when it plays in real time."""
        ...

    def reopen(self) -> None:
        """Tries to get a lost live source back; raises DeviceUnavailableError while it is still gone."""
        ...

    def close(self) -> None: ...


class _Pacer:
    """Sleeps so frame n leaves at start + n/fps; after a stall it restarts the clock instead of bursting."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._start: float | None = None
        self._n = 0

    def wait(self) -> None:
        now = time.monotonic()
        if self._start is None or now - (self._start + self._n * self.period) > 0.25:
            self._start, self._n = now, 0
        due = self._start + self._n * self.period
        if due > now:
            time.sleep(due - now)
        self._n += 1


def _to_rgb(bgr: np.ndarray) -> np.ndarray:
    if bgr.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB))
    if bgr.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB))
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


class VideoFileSource:
    """A video file, paced at its own fps (realtime) or read as fast as it is consumed."""

    live = False

    def __init__(self, path: Path, realtime: bool = True, loop: bool = False) -> None:
        path = Path(path)
        require_file(path, "source", "give a video file, an image, webcam:N or scripted")
        cap = cv2.VideoCapture(str(path))
        ok, first = cap.read() if cap.isOpened() else (False, None)
        if not ok or first is None:
            cap.release()
            raise InputError(f"source {path} is not a video OpenCV can decode; convert it to MP4 (H.264)")
        self.path = path
        self.name = path.name
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1 <= fps <= 240 else 25.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 else None
        self.realtime = realtime
        self.loop = loop
        self._cap = cap
        self._pending: np.ndarray | None = first
        self._pacer = _Pacer(self.fps) if realtime else None
        self._index = 0

    def read(self) -> Captured | None:
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            ok, bgr = self._cap.read()
            if not ok and self.loop and self._index > 0:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, bgr = self._cap.read()
            if not ok:
                return None
        if self._pacer is not None:
            self._pacer.wait()
        frame = Frame(_to_rgb(bgr), time.monotonic(), self._index, self._index / self.fps)
        self._index += 1
        return Captured(frame)

    def reopen(self) -> None:
        raise DeviceUnavailableError(f"{self.name} cannot be reopened")

    def close(self) -> None:
        self._cap.release()


class ImageSource:
    """A still image, delivered again and again at `fps` (a frozen driver: useful for checks and demos)."""

    live = False
    frame_count: int | None = None

    def __init__(self, path: Path, fps: float = 30.0, realtime: bool = True) -> None:
        from liveavatar.files.imageio import read_image

        self.image = read_image(path)
        self.name = Path(path).name
        self.fps = fps
        self._pacer = _Pacer(fps) if realtime else None
        self._index = 0

    def read(self) -> Captured | None:
        if self._pacer is not None:
            self._pacer.wait()
        # A fresh array per frame: downstream stages and observers may keep it.
        frame = Frame(self.image.copy(), time.monotonic(), self._index, self._index / self.fps)
        self._index += 1
        return Captured(frame)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


class ScriptedSource:
    """The demo's scripted performance (liveavatar.landmarks.scripted) on given landmarks.

    The image is the landmarks drawn on a dark canvas (what a "camera" view shows); the landmarks travel
    with it, so nothing is tracked. One 8-second loop, or endlessly with loop=True.
    """

    live = False

    def __init__(self, base: FaceLandmarks, fps: float = 25.0, realtime: bool = True, loop: bool = False) -> None:
        from liveavatar.landmarks.scripted import ScriptedPerformance

        self.performance = ScriptedPerformance(base, fps)
        self.name = "scripted performance"
        self.fps = fps
        self.loop = loop
        self.frame_count: int | None = len(self.performance)
        self._size = base.image_size
        self._pacer = _Pacer(fps) if realtime else None
        self._index = 0

    def read(self) -> Captured | None:
        from liveavatar.render.rasterize import draw_landmarks_overlay

        if not self.loop and self._index >= len(self.performance):
            return None
        if self._pacer is not None:
            self._pacer.wait()
        landmarks = self.performance.frame(self._index)
        w, h = self._size
        canvas = np.full((h, w, 3), 24, np.uint8)
        image = draw_landmarks_overlay(canvas, landmarks.points68)
        frame = Frame(image, time.monotonic(), self._index, self._index / self.fps)
        self._index += 1
        return Captured(frame, landmarks)

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str
    virtual: bool = False  # a virtual camera (v4l2loopback, OBS): an output, not a real camera

    def describe(self) -> str:
        return f"webcam:{self.index}  {self.name}" + ("  (virtual camera)" if self.virtual else "")


_VIRTUAL_NAMES = ("loopback", "liveavatar", "obs", "virtual", "dummy")


def list_cameras(max_index: int = 8) -> list[CameraInfo]:
    """The cameras OpenCV can open. On Linux, read from /sys (no device is opened, so it is instant and
    does not disturb a camera in use); elsewhere, indices 0..max_index-1 are probed."""
    if platform.system() == "Linux":
        found = []
        for dev in sorted(Path("/sys/class/video4linux").glob("video*"), key=lambda p: int(p.name[5:] or 0)):
            try:
                name = (dev / "name").read_text().strip()
            except OSError:
                name = dev.name
            index = int(dev.name[5:])
            # Metadata nodes of UVC cameras share the name; only index 0 of each device captures.
            if (dev / "index").is_file() and (dev / "index").read_text().strip() not in ("0", ""):
                continue
            found.append(CameraInfo(index, name, any(v in name.lower() for v in _VIRTUAL_NAMES)))
        return found
    found = []
    for index in range(max_index):
        cap = cv2.VideoCapture(index)
        try:
            if cap.isOpened():
                found.append(CameraInfo(index, f"camera {index}"))
        finally:
            cap.release()
    return found


class WebcamSource:
    """An OpenCV camera by index, at a requested size and fps (the camera may choose others)."""

    live = True
    frame_count: int | None = None

    def __init__(self, device: int, width: int | None = None, height: int | None = None, fps: float | None = None):
        self.device = device
        self.name = f"webcam {device}"
        self._request = (width, height, fps)
        self._cap = self._open()
        reported = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps or (reported if reported and 1 <= reported <= 240 else 30.0))
        self._index = 0

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.device)
        width, height, fps = self._request
        if cap.isOpened():
            if width and height:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            if fps:
                cap.set(cv2.CAP_PROP_FPS, fps)
            ok, _ = cap.read()
            if ok:
                return cap
        cap.release()
        cameras = [c.describe() for c in list_cameras()]
        found = "; cameras found: " + ", ".join(cameras) if cameras else "; no camera was found on this machine"
        raise DeviceUnavailableError(
            f"webcam {self.device} cannot be opened (unplugged, or in use by another app){found}. "
            "Run `liveavatar doctor` to list cameras"
        )

    def read(self) -> Captured | None:
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise SourceLost(f"webcam {self.device} stopped sending frames")
        frame = Frame(_to_rgb(bgr), time.monotonic(), self._index)
        self._index += 1
        return Captured(frame)

    def reopen(self) -> None:
        self._cap.release()
        self._cap = self._open()

    def close(self) -> None:
        self._cap.release()


def open_source(spec: SourceSpec, scripted_base: FaceLandmarks | None = None) -> FrameSource:
    """Opens the source a spec names, checking it works. scripted_base: the landmarks the scripted
    performance animates (the avatar's, in crop pixels)."""
    if spec.kind == "webcam":
        return WebcamSource(spec.device, spec.width, spec.height, spec.fps)
    if spec.kind == "video":
        assert spec.path is not None
        return VideoFileSource(spec.path, spec.realtime, spec.loop)
    if spec.kind == "image":
        assert spec.path is not None
        return ImageSource(spec.path, spec.fps or 30.0, spec.realtime)
    if spec.kind == "scripted":
        if scripted_base is None:
            raise InputError("the scripted source needs an avatar to animate")
        return ScriptedSource(scripted_base, spec.fps or 25.0, spec.realtime, spec.loop)
    raise InputError(f"unknown source kind {spec.kind!r}")
