"""RunnerBridge: the runner's observer calls (worker threads) → queued Qt signals on the GUI thread.

Frames do not travel through the signal: the observer puts each FrameReport in a one-item slot and emits
`frame_ready` only when the slot was empty, so at most one notification is ever queued. The GUI takes the
latest report when it gets to it; a report arriving meanwhile replaces the pending one (counted in
`replaced`). A slow paint therefore shows the freshest frame and never builds a queue of frames.
Stats, sink states, errors and the end of the run are rare and go through the signals as they are.

A bridge serves one runner: `detach()` (when that runner is replaced or the window closes) makes later
observer calls no-ops, so a runner being torn down on a worker thread cannot reach a new view.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from liveavatar.live.events import FrameReport, RunnerError, RunnerObserver, RunStats, SinkState


class RunnerBridge(QObject):
    frame_ready = Signal()  # take_frame() has a report
    stats = Signal(object)  # RunStats
    sink_state = Signal(object)  # SinkState
    error = Signal(object)  # RunnerError
    stopped = Signal(str)  # the reason

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: FrameReport | None = None
        self._attached = True
        self.replaced = 0  # frames that arrived before the GUI took the previous one
        self.observer = _Observer(self)

    def take_frame(self) -> FrameReport | None:
        """The latest report not yet taken (GUI thread)."""
        with self._lock:
            report, self._pending = self._pending, None
        return report

    def detach(self) -> None:
        with self._lock:
            self._attached = False
            self._pending = None

    @property
    def attached(self) -> bool:
        with self._lock:
            return self._attached

    # Called from the runner's threads through _Observer.
    def _frame(self, report: FrameReport) -> None:
        with self._lock:
            if not self._attached:
                return
            notify = self._pending is None
            if not notify:
                self.replaced += 1
            self._pending = report
        if notify:
            self.frame_ready.emit()

    def _emit(self, signal_name: str, value: object) -> None:
        with self._lock:
            if not self._attached:
                return
        getattr(self, signal_name).emit(value)


class _Observer(RunnerObserver):
    """The RunnerObserver the runner calls; forwards to the bridge without ever blocking."""

    def __init__(self, bridge: RunnerBridge) -> None:
        self._bridge = bridge

    def on_frame(self, report: FrameReport) -> None:
        self._bridge._frame(report)

    def on_stats(self, stats: RunStats) -> None:
        self._bridge._emit("stats", stats)

    def on_sink_state(self, state: SinkState) -> None:
        self._bridge._emit("sink_state", state)

    def on_error(self, error: RunnerError) -> None:
        self._bridge._emit("error", error)

    def on_stopped(self, reason: str) -> None:
        self._bridge._emit("stopped", reason)
