"""TaskPool: run blocking work (building avatars, loading files, starting the runner) off the GUI thread.

    pool = TaskPool("build", threads=1)
    task = pool.submit(fn, on_done=..., on_failed=..., on_progress=...)   # fn(task) → result
    task.cancel()            # fn sees it at its next task.progress(...) call (raises Cancelled there)
    pool.shutdown(timeout)   # cancels what is queued or running and waits for it (window close)

Callbacks run on the GUI thread: the signals carrier lives there, so emits from the worker are queued.
A failure arrives as the exception itself, with the traceback text for "details".
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal


class Cancelled(Exception):
    """Raised inside a task at a progress point after cancel()."""


class _Signals(QObject):
    progress = Signal(str, float)
    done = Signal(object)
    failed = Signal(object, str)
    cancelled = Signal()


class Task(QRunnable):
    def __init__(self, fn: Callable[[Task], Any], name: str, on_end: Callable[[Task], None]) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the pool keeps the Python object until it has ended
        self.fn = fn
        self.name = name
        self.signals = _Signals()
        self._cancel = threading.Event()
        self._on_end = on_end
        self.ended = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def progress(self, what: str, fraction: float) -> None:
        """Reports progress (queued to the GUI thread); raises Cancelled when cancel() was called."""
        if self._cancel.is_set():
            raise Cancelled(self.name)
        self.signals.progress.emit(what, float(fraction))

    def run(self) -> None:
        try:
            if self._cancel.is_set():
                raise Cancelled(self.name)
            result = self.fn(self)
            if self._cancel.is_set():
                self.signals.cancelled.emit()
            else:
                self.signals.done.emit(result)
        except Cancelled:
            self.signals.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - every failure is reported to the window, none is lost
            self.signals.failed.emit(exc, traceback.format_exc())
        finally:
            self.ended.set()
            self._on_end(self)


class TaskPool:
    def __init__(self, name: str, threads: int = 1) -> None:
        self.name = name
        self._pool = QThreadPool()
        self._pool.setMaxThreadCount(threads)
        self._lock = threading.Lock()
        self._tasks: set[Task] = set()
        self._closed = False

    def submit(
        self,
        fn: Callable[[Task], Any],
        on_done: Callable[[Any], None] | None = None,
        on_failed: Callable[[Exception, str], None] | None = None,
        on_progress: Callable[[str, float], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        name: str = "",
    ) -> Task:
        task = Task(fn, name or getattr(fn, "__name__", "task"), self._ended)
        for signal, slot in (
            (task.signals.done, on_done),
            (task.signals.failed, on_failed),
            (task.signals.progress, on_progress),
            (task.signals.cancelled, on_cancelled),
        ):
            if slot is not None:
                signal.connect(slot)
        with self._lock:
            if self._closed:
                task.cancel()
            self._tasks.add(task)
        self._pool.start(task)
        return task

    def _ended(self, task: Task) -> None:
        with self._lock:
            self._tasks.discard(task)

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._tasks)

    def wait(self, timeout_s: float = 30.0) -> bool:
        """Blocks until every submitted task has ended; True if they all did within the timeout."""
        return self._pool.waitForDone(int(timeout_s * 1000))

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Cancels every task (queued ones never start their work) and waits for the running ones."""
        with self._lock:
            self._closed = True
            tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return self.wait(timeout_s)

    def active_threads(self) -> int:
        return self._pool.activeThreadCount()
