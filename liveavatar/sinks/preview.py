"""An OpenCV preview window for headless use (`liveavatar run --sink preview`); q or Esc ends the run.

Not for the desktop app (a cv2 window inside a Qt app fights over the event loop): the app paints the
runner's frames itself.

Opened on the main thread (the CLI's `run` and `demo`), the window lives on the main thread: OpenCV's
wheels draw it with their own Qt, whose application object belongs to the thread that first made a
window and is destroyed at interpreter exit by the main thread; made on a worker thread, its timers are
then stopped from another thread ("QObject::killTimer: Timers cannot be stopped from another thread").
So the main thread pumps the window while it waits for the run: Runner.wait calls `pump()` of every
sink that has one. Opened on any other thread, the window gets its own thread, the only one touching
HighGUI.
"""

from __future__ import annotations

import os
import platform
import threading
from collections.abc import Callable

import cv2

from liveavatar.errors import DeviceUnavailableError
from liveavatar.live.slots import CLOSED, LatestSlot
from liveavatar.sinks.base import Report, SinkDefaults
from liveavatar.types import Frame

WINDOW = "LiveAvatar (q to quit)"


def display_available() -> bool:
    """Whether a window can be shown: always on Windows/macOS, on Linux only with an X11/Wayland display."""
    if platform.system() != "Linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class PreviewSink(SinkDefaults):
    key = "preview"

    def __init__(self, report: Report, on_quit: Callable[[str], None] | None = None) -> None:
        self.report = report
        self.on_quit = on_quit
        self.dropped = 0
        self._slot: LatestSlot[Frame] = LatestSlot("preview")
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: str | None = None
        self._window_open = False
        self._closed = False
        self.pumped_on_main_thread = False  # True: pump() drives the window (opened on the main thread)

    def open(self) -> str:
        if not display_available():
            raise DeviceUnavailableError(
                "the preview needs a display and there is none (no DISPLAY or WAYLAND_DISPLAY); "
                "use --sink record:OUT.mp4 or --sink http:PORT instead"
            )
        if threading.current_thread() is threading.main_thread():
            try:
                cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            except cv2.error as exc:
                raise DeviceUnavailableError(
                    f"the preview window cannot open: {str(exc).strip().splitlines()[-1]}"
                ) from None
            self._window_open = True
            self.pumped_on_main_thread = True
            return "window"
        self._thread = threading.Thread(target=self._loop, name="liveavatar-preview", daemon=True)
        self._thread.start()
        self._ready.wait(5)
        if self._failure:
            raise DeviceUnavailableError(f"the preview window cannot open: {self._failure}")
        return "window"

    def pump(self) -> None:
        """Main thread only (Runner.wait calls it): shows the newest frame, handles q/Esc and the window
        being closed, and destroys the window once the sink is closed."""
        if not self.pumped_on_main_thread or not self._window_open:
            return
        frame = self._slot.get(timeout=0)
        if frame is CLOSED or self._closed:  # a frame still waiting at close is not worth showing
            self._destroy_window()
            return
        if frame is not None:
            cv2.imshow(WINDOW, cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
        if key in (ord("q"), 27) or closed:
            self._destroy_window()  # at once: a later imshow would open it again
            if self.on_quit is not None:
                self.on_quit(self.key)

    def _destroy_window(self) -> None:
        self._window_open = False
        try:
            cv2.destroyWindow(WINDOW)
        except cv2.error:
            pass  # the user closed it already: nothing left to destroy
        cv2.waitKey(1)

    def _loop(self) -> None:
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            self._failure = str(exc).strip().splitlines()[-1]
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                frame = self._slot.get(timeout=0.03)
                if frame is CLOSED:
                    break
                if frame is not None:
                    cv2.imshow(WINDOW, cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
                key = cv2.waitKey(1) & 0xFF
                closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
                if key in (ord("q"), 27) or closed:
                    if self.on_quit is not None:
                        self.on_quit(self.key)
                    break
        finally:
            cv2.destroyWindow(WINDOW)
            cv2.waitKey(1)

    def send(self, frame: Frame, wait: bool = False) -> None:
        self._slot.put(frame)
        self.dropped = self._slot.dropped

    def close(self) -> None:
        self._closed = True
        self._slot.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)
        if self.pumped_on_main_thread and threading.current_thread() is threading.main_thread():
            self.pump()  # destroys the window now; from another thread, the main thread's next pump does
