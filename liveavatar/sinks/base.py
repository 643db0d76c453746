"""The Sink protocol: where output frames go (virtual camera, recorder, HTTP stream, preview window).

Boundary: `send` gets a types.Frame whose image is H×W×3 uint8 RGB (the runner's output size) and whose
timestamp is the capture time of the driving frame. `send` never blocks the caller unless wait=True
(lossless runs): each sink does its slow work (encoding, device I/O, network) in its own thread.
`open` checks everything before the run starts and raises a LiveAvatarError naming the problem and the
fix; problems during the run go to the `report` callback as a SinkState("failed", detail).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

from liveavatar.live.events import SinkState
from liveavatar.types import Frame

Report = Callable[[SinkState], None]


class Sink(Protocol):
    key: str
    dropped: int  # frames this sink let go (live mode only)
    saved_detail: str  # after close(): what it saved, for the closed state ("" when nothing to say)
    pumped_on_main_thread: bool  # True: the main thread must call pump() (a window opened there)

    def open(self) -> str:
        """Opens the device/file/socket; returns what it serves, for the user (an address, a path)."""
        ...

    def send(self, frame: Frame, wait: bool = False) -> None: ...

    def close(self) -> None:
        """Stops the sink's threads and finalises what it wrote; safe to call twice."""
        ...

    def pump(self) -> None:
        """Drives a window from the main thread; a no-op for sinks without one."""
        ...


class SinkDefaults:
    """What most sinks share: nothing saved to name when closed, no window for the main thread to pump."""

    saved_detail = ""
    pumped_on_main_thread = False

    def pump(self) -> None:
        return None


def fit_frame(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """image (H×W×3 uint8) resized to fit width×height, centred on black where the aspects differ."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interpolation)
    if (nw, nh) == (width, height):
        return resized
    out = np.zeros((height, width, 3), np.uint8)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = resized
    return out
