"""Starting the desktop app: the QApplication, the window, and the offscreen screenshot mode.

run_app(AppOptions(...))                                   # the window, until the user closes it
run_app(options, screenshot=Path("shot.png"), after_frames=30)
    # renders the real window offscreen (1280×720), waits for 30 live frames, saves it, exits
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from liveavatar.errors import LiveAvatarError

SCREENSHOT_SIZE = (1280, 720)
SCREENSHOT_TIMEOUT_S = 300.0


# PySide6 releases that drop references to None/True (Signal.emit, void methods such as QPainter.drawPath).
# On Python < 3.12 those objects are not immortal, so the app aborts after a few thousand frames.
BROKEN_PYSIDE = {"6.12.0"}


class ScreenshotError(LiveAvatarError):
    """The screenshot could not be taken (no frames came, or the file could not be written)."""


class QtBindingError(LiveAvatarError):
    """The installed PySide6 cannot run the app."""


def check_qt_binding() -> None:
    import PySide6

    if PySide6.__version__ in BROKEN_PYSIDE and sys.version_info < (3, 12):
        raise QtBindingError(
            f"PySide6 {PySide6.__version__} has a reference-counting bug that crashes the app on Python "
            f"{sys.version_info.major}.{sys.version_info.minor} after a few minutes; install another release: "
            "pip install 'PySide6-Essentials>=6.6,<6.12'"
        )


def make_application(argv: list[str] | None = None):
    """The QApplication (one per process), named so QStandardPaths and QSettings find the app's folders."""
    from PySide6.QtWidgets import QApplication

    from .paths import APPLICATION, ORGANIZATION
    from .platform_check import restore_qt_variables
    from .widgets.theme import STYLESHEET

    check_qt_binding()
    existing = QApplication.instance()
    if existing is not None and not isinstance(existing, QApplication):
        raise RuntimeError(f"a {type(existing).__name__} already runs in this process; the app needs a QApplication")
    app = existing
    if app is None:
        restore_qt_variables()  # `import cv2` pointed Qt at OpenCV's Qt 5 plugin folder
        app = QApplication(argv if argv is not None else [sys.argv[0]])
        if app.platformName() == "offscreen":
            _drop_offscreen_size_hint_warnings()  # once per process: handlers chain
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("LiveAvatar")
    app.setStyle("Fusion")  # the same look on every OS; the stylesheet builds on it
    app.setStyleSheet(STYLESHEET)
    return app


# Qt's offscreen platform (screenshots, tests) has no window manager to pass a window's size limits to,
# and says so each time a fixed-size widget is laid out: known-harmless, and the only noise of a
# `liveavatar app --screenshot` run. Every other message goes through unchanged.
OFFSCREEN_SIZE_HINTS = "This plugin does not support propagateSizeHints()"


def _drop_offscreen_size_hint_warnings() -> None:
    from PySide6.QtCore import qFormatLogMessage, qInstallMessageHandler

    def handler(mode, context, message: str) -> None:
        if message == OFFSCREEN_SIZE_HINTS:
            return
        if previous is not None:
            previous(mode, context, message)
        else:
            sys.stderr.write(qFormatLogMessage(mode, context, message) + "\n")

    previous = qInstallMessageHandler(handler)


def run_app(options, screenshot: Path | None = None, after_frames: int = 30) -> int:
    """Shows the window and runs the event loop; returns the exit code."""
    if screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        screenshot = Path(screenshot)
        if not screenshot.parent.is_dir():
            raise ScreenshotError(
                f"cannot save the screenshot to {screenshot}: folder {screenshot.parent} does not exist"
            )
    from PySide6.QtCore import QTimer

    app = make_application()
    from .main_window import MainWindow

    window = MainWindow(options)
    restore_signals = close_on_stop_signals(window)
    outcome: dict[str, str] = {}
    if screenshot is not None:
        window.resize(*SCREENSHOT_SIZE)
        _arrange_screenshot(window, screenshot, after_frames, outcome)
    window.show()
    if screenshot is not None:
        QTimer.singleShot(int(SCREENSHOT_TIMEOUT_S * 1000), lambda: _give_up(window, outcome, after_frames))
    try:
        app.exec()
    finally:
        restore_signals()
    if screenshot is not None and "error" in outcome:
        raise ScreenshotError(outcome["error"])
    return 0


def close_on_stop_signals(window):
    """SIGTERM and SIGHUP (a logout, `kill`, a service manager) close the window as the user would: the run
    stops, a recording is finalised, and the app quits. Returns the function that puts the old handlers back."""
    import signal

    from PySide6.QtCore import QTimer

    from liveavatar.environment.stopsignals import STOP_SIGNALS

    def handler(signum: int, frame: object) -> None:
        QTimer.singleShot(0, window.close)  # from the event loop, not from inside whatever Python was running

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    # Python runs a signal handler only when the interpreter gets control; Qt's event loop is C++, so a
    # timer hands control back five times a second.
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(200)

    def restore() -> None:
        wake.stop()
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _arrange_screenshot(window, path: Path, after_frames: int, outcome: dict) -> None:
    from PySide6.QtCore import QTimer

    def on_frame(count: int) -> None:
        if count == after_frames:
            # One more turn of the event loop so the views paint this frame before the grab.
            QTimer.singleShot(150, take)

    def take() -> None:
        image = window.grab().toImage()
        tmp = path.with_name(path.stem + ".partial" + path.suffix)
        if not image.save(str(tmp)):
            outcome["error"] = f"cannot write the screenshot {path}"
        else:
            tmp.replace(path)
            shown = f"{window.frames_shown} frames" if window.frames_shown else f"{window.preview_frames} camera frames"
            print(f"wrote {path} ({image.width()}×{image.height()}, after {shown})")
        window.close()

    def on_model(ok: bool) -> None:
        if not ok:
            # Without a model there are no frames: the screenshot shows the window saying so.
            QTimer.singleShot(500, take)

    idle_checks = [0]

    def check_idle() -> None:
        """Nothing can run (no source, no avatar, a failed start): say why now, not after the timeout."""
        if window.frames_shown or window.checkpoint is None:
            return
        reason = window.settled_without_run()
        idle_checks[0] = idle_checks[0] + 1 if reason else 0
        if idle_checks[0] >= 3:
            messages = "; ".join(window.status.messages())
            outcome["error"] = f"no screenshot: {reason}" + (f" ({messages})" if messages else "")
            window.close()

    def on_preview(count: int) -> None:
        # No avatar yet: the window shows the camera preview and the offer of a first avatar.
        if count >= after_frames and not taken and window.waiting_for_avatar():
            taken.append(True)
            QTimer.singleShot(150, take)

    taken: list[bool] = []
    window.frame_shown.connect(on_frame)
    window.preview_shown.connect(on_preview)
    window.model_ready.connect(on_model)
    poll = QTimer(window)
    poll.timeout.connect(check_idle)
    poll.start(1000)


def _give_up(window, outcome: dict, after_frames: int) -> None:
    if window.isVisible():
        messages = "; ".join(window.status.messages()) or "no message"
        outcome["error"] = (
            f"no screenshot: only {window.frames_shown} of {after_frames} frames arrived in "
            f"{SCREENSHOT_TIMEOUT_S:.0f} s ({messages})"
        )
        window.close()
