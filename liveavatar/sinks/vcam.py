"""Virtual camera sink through pyvirtualcam (imported lazily: an optional dependency).

The device shows up in video-call apps and OBS as a camera. Size and fps are the user's (default
1280×720 at 30, even sizes); frames of another size are fitted. A thread of its own sends the newest
frame at the camera's rate, repeating the last one while no new frame comes (the camera was lost, the
face tracker is slow), so the call never sees the camera freeze into "no signal".
When no virtual camera device exists, open() raises DeviceUnavailableError with the exact fix for this
OS (vcam_fix), and the runner carries on with its other sinks.
"""

from __future__ import annotations

import platform
import threading
from typing import TYPE_CHECKING

from liveavatar.errors import DeviceUnavailableError
from liveavatar.live.events import SinkState
from liveavatar.live.slots import CLOSED, LatestSlot
from liveavatar.sinks.base import Report, SinkDefaults, fit_frame
from liveavatar.types import Frame

if TYPE_CHECKING:
    import pyvirtualcam

LINUX_FIX = (
    'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="LiveAvatar"'
    " (install the module first: `sudo apt install v4l2loopback-dkms` on Debian/Ubuntu,"
    " `sudo dnf install v4l2loopback` on Fedora)"
)
OBS_FIX = (
    'install OBS Studio (https://obsproject.com), open it once and click "Start Virtual Camera" then'
    ' "Stop Virtual Camera"; its virtual camera is then available to LiveAvatar'
)


def vcam_fix(system: str | None = None) -> str:
    """What the user must do on this OS to get a virtual camera device."""
    system = system or platform.system()
    if system == "Linux":
        return f"load the v4l2loopback module: {LINUX_FIX}"
    if system in ("Windows", "Darwin"):
        return OBS_FIX
    return "install a virtual camera supported by pyvirtualcam (v4l2loopback on Linux, OBS elsewhere)"


class VirtualCameraUnavailable(DeviceUnavailableError):
    """No virtual camera opens here. The message is the one line users see (the sink's failure in `run` and
    the app, the app's output row); `detail` (what is missing) and `fix` (what to do) are its two halves,
    which `liveavatar doctor` prints apart (liveavatar.environment.health.check_virtual_camera)."""

    def __init__(self, message: str, detail: str, fix: str) -> None:
        super().__init__(message)
        self.detail = detail
        self.fix = fix


def missing_device_error(detail: str, system: str | None = None) -> VirtualCameraUnavailable:
    what, fix = f"no virtual camera device ({detail.strip()})", vcam_fix(system)
    return VirtualCameraUnavailable(f"{what}; to get one, {fix}", what, fix)


def open_camera(width: int, height: int, fps: float, device: str | None = None) -> pyvirtualcam.Camera:
    """A pyvirtualcam.Camera taking RGB frames, or VirtualCameraUnavailable saying how to get one."""
    try:
        import pyvirtualcam
    except ImportError:
        from liveavatar.environment.install_hint import pip_install

        fix = f"the virtual camera needs pyvirtualcam: {pip_install('vcam')} (or pip install pyvirtualcam)"
        raise VirtualCameraUnavailable(fix, "pyvirtualcam is not installed", fix) from None
    try:
        return pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.RGB, device=device)
    except RuntimeError as exc:
        # pyvirtualcam tries every backend of this OS and joins their errors into one RuntimeError.
        raise missing_device_error(str(exc).splitlines()[0] if str(exc) else "no backend") from None


class VcamSink(SinkDefaults):
    key = "vcam"

    def __init__(self, width: int, height: int, fps: float, report: Report, device: str | None = None) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"virtual camera size must be even, got {width}x{height}")
        self.width, self.height, self.fps = width, height, fps
        self.device = device
        self.report = report
        self.dropped = 0
        self._slot: LatestSlot[Frame] = LatestSlot("vcam")
        self._camera: pyvirtualcam.Camera | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> str:
        camera = self._camera = open_camera(self.width, self.height, self.fps, self.device)
        self._thread = threading.Thread(target=self._loop, args=(camera,), name="liveavatar-vcam", daemon=True)
        self._thread.start()
        return f"{camera.device} ({camera.backend}, {self.width}x{self.height} at {self.fps:g} fps)"

    def send(self, frame: Frame, wait: bool = False) -> None:
        self._slot.put(frame)

    def _loop(self, cam: pyvirtualcam.Camera) -> None:
        image = None
        try:
            while True:
                # Wait for a new frame at most one frame period; then repeat the last one.
                frame = self._slot.get(timeout=1.0 / self.fps)
                if frame is CLOSED:
                    return
                if frame is not None:
                    image = fit_frame(frame.image, self.width, self.height)
                if image is None:
                    continue
                cam.send(image)
                cam.sleep_until_next_frame()
        except Exception as exc:  # noqa: BLE001 - the device vanished; the other sinks go on
            self.report(SinkState(self.key, "failed", f"the virtual camera stopped: {exc}"))

    def close(self) -> None:
        self._slot.close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._camera is not None:
            self._camera.close()
            self._camera = None
