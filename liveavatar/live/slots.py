"""Size-1 hand-over between pipeline threads.

Live mode: `put` overwrites a frame nobody took yet and counts it as dropped (freshness beats
completeness). Lossless mode: `put` waits until the consumer took the previous item (offline rendering).
`close()` ends the stream: the consumer still gets an item that was waiting, then `get` returns CLOSED.
"""

from __future__ import annotations

import threading
import time
from enum import Enum
from typing import Generic, TypeVar

T = TypeVar("T")


class _Closed(Enum):
    """The end-of-stream marker; an enum member so a type checker narrows `item is CLOSED`."""

    CLOSED = "CLOSED"

    def __repr__(self) -> str:
        return "CLOSED"


CLOSED = _Closed.CLOSED


class LatestSlot(Generic[T]):
    def __init__(self, name: str, lossless: bool = False) -> None:
        self.name = name
        self.lossless = lossless
        self.dropped = 0
        self.taken_at = 0.0  # time.monotonic() when the consumer last took an item
        self._item: T | None = None
        self._full = False
        self._closed = False
        self._cond = threading.Condition()

    def put(self, item: T, stop: threading.Event | None = None) -> bool:
        """Hands `item` over. Returns False if the slot was closed (or `stop` set while waiting)."""
        with self._cond:
            if self.lossless:
                while self._full and not self._closed and not (stop is not None and stop.is_set()):
                    self._cond.wait(0.1)
            if self._closed or (stop is not None and stop.is_set()):
                return False
            if self._full:
                self.dropped += 1
            self._item = item
            self._full = True
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | _Closed | None:
        """The newest item, CLOSED once closed and empty, or None after `timeout` seconds with nothing."""
        with self._cond:
            if not self._full and not self._closed:
                self._cond.wait(timeout)
            if self._full:
                item = self._item
                self._item = None
                self._full = False
                self.taken_at = time.monotonic()
                self._cond.notify_all()
                return item
            return CLOSED if self._closed else None

    def wait_empty(self, stop: threading.Event | None = None, timeout: float = 0.25) -> bool:
        """Waits up to `timeout` s until the consumer has taken the item; True when the slot is empty.

        Lets a producer start on the newest input only when its output will be taken (rather than
        working on frames that would be overwritten: on a small CPU that work slows the consumer down).
        """
        with self._cond:
            if self._full and not self._closed and not (stop is not None and stop.is_set()):
                self._cond.wait(timeout)
            return not self._full

    def peek(self) -> T | None:
        with self._cond:
            return self._item if self._full else None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
