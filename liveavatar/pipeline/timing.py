"""Rolling per-stage timings and latencies → p50/p95, and the output frame rate."""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from liveavatar.live.events import Percentiles

WINDOW = 300  # frames: ~10 s at 30 fps, enough for a stable p95 and short enough to follow changes


class TimingWindow:
    """Thread-safe rolling window of named samples (milliseconds) and output-frame times (seconds)."""

    def __init__(self, window: int = WINDOW) -> None:
        self._samples: dict[str, deque[float]] = {}
        self._times: deque[float] = deque(maxlen=window)
        self._window = window
        self._lock = threading.Lock()

    def add(self, name: str, ms: float) -> None:
        with self._lock:
            q = self._samples.get(name)
            if q is None:
                q = self._samples[name] = deque(maxlen=self._window)
            q.append(ms)

    def tick(self, t: float) -> None:
        """An output frame left the pipeline at monotonic time t."""
        with self._lock:
            self._times.append(t)

    def percentiles(self, name: str) -> Percentiles:
        with self._lock:
            values = list(self._samples.get(name, ()))
        if not values:
            return Percentiles(0.0, 0.0)
        p50, p95 = np.percentile(values, [50, 95])
        return Percentiles(float(p50), float(p95))

    def names(self) -> list[str]:
        with self._lock:
            return list(self._samples)

    def fps(self) -> float:
        with self._lock:
            times = list(self._times)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])
