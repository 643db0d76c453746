"""What the runner tells the outside world: per-frame reports, periodic stats, sink states and errors.

`RunnerObserver` is the one interface. Its methods are called from the runner's worker threads (the
inference thread for frames and stats, whichever thread noticed for sink states and errors). An
implementation must return quickly and never block: the Qt bridge emits queued signals, the CLI prints.
An exception raised by an observer is caught and logged, never allowed to stop the pipeline: the runner and
the camera preview call their observer through `GuardedObserver`, which does that per method.
Every array handed to an observer is fresh for that call and never written again by the runner, so it
may be kept (e.g. wrapped in a QImage) without copying.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np

from liveavatar.types import FaceLandmarks


@dataclass(frozen=True)
class FrameReport:
    """One processed frame, as it left the pipeline.

    camera: the source image, H×W×3 uint8 RGB (before mirroring). landmarks: the driver's tracked and
    smoothed 68 points in camera pixels, or None when no face was seen. message: what the tracker saw
    ("1 face", "no face; holding the last pose", ...). face: the generated S×S×3 uint8 RGB crop.
    landmark_image: the S×S×3 uint8 RGB landmark image the generator drew `face` from.
    output: the frame the sinks got (background, mirror and AI mark applied), H×W×3 uint8 RGB.
    timings: milliseconds per stage for this frame (capture, track, retarget, rasterize, infer, compose,
    sinks). latency_ms: capture timestamp → handed to the sinks.
    face, output and landmark_image are None (and avatar "") in a CameraPreview's reports: the camera and
    its tracked face before any avatar exists.
    """

    index: int
    timestamp: float
    camera: np.ndarray
    landmarks: FaceLandmarks | None
    message: str
    face: np.ndarray | None
    output: np.ndarray | None
    avatar: str
    timings: dict[str, float]
    latency_ms: float
    landmark_image: np.ndarray | None


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float


@dataclass(frozen=True)
class RunStats:
    """A window of recent frames (stats_interval_s apart).

    fps: output frames per second over the window. stages: per-stage p50/p95 in ms. latency: capture →
    sinks p50/p95 in ms. dropped: stale frames overwritten so far, per slot ("capture", "processed", "rendered") and
    per sink that drops ("record:out.mp4" when its queue was full in live mode). frames: output frames so far.
    """

    fps: float
    stages: dict[str, Percentiles]
    latency: Percentiles
    dropped: dict[str, int]
    frames: int
    elapsed_s: float
    engine: str

    def dropped_text(self) -> str:
        """The drops in words, e.g. "42 source frames before tracking, 0 tracked frames before the generator,
        0 frames at record:out.mp4": each count says which frames it counts and where they were skipped."""
        parts = []
        for key, count in self.dropped.items():
            if key == "capture":
                parts.append(f"{count} source frames before tracking")
            elif key == "processed":
                parts.append(f"{count} tracked frames before the generator")
            elif key == "rendered":
                parts.append(f"{count} generated frames before composing")
            else:
                parts.append(f"{count} frames at {key}")
        return ", ".join(parts)

    def as_dict(self) -> dict:
        return {
            "fps": round(self.fps, 2),
            "frames": self.frames,
            "elapsed_s": round(self.elapsed_s, 2),
            "engine": self.engine,
            "latency_ms": {"p50": round(self.latency.p50, 2), "p95": round(self.latency.p95, 2)},
            "stages_ms": {k: {"p50": round(v.p50, 2), "p95": round(v.p95, 2)} for k, v in self.stages.items()},
            "dropped": dict(self.dropped),
        }


SinkStatus = Literal["opening", "running", "failed", "closed"]


@dataclass(frozen=True)
class SinkState:
    """A sink's state. detail: for running, what it serves ("http://127.0.0.1:8765/", the file, the
    device); for failed, the error message including how to fix it."""

    key: str
    status: SinkStatus
    detail: str = ""

    @property
    def kind(self) -> str:
        """ "vcam", "record", "http" or "preview": the sink's kind (sink_kind of its key)."""
        return sink_kind(self.key)

    @property
    def target(self) -> str:
        """What the sink was asked to write to: a recording's path as given, the stream's port; "" for the
        virtual camera and the preview window."""
        return self.key.partition(":")[2]


def sink_kind(key: str) -> str:
    """A sink's kind from its key ("record:/tmp/a.mp4" → "record", "http:8765" → "http", "vcam" → "vcam"):
    the one place a key is taken apart."""
    return key.partition(":")[0]


@dataclass(frozen=True)
class RunnerError:
    """A problem during a run. message: one line for the user (a LiveAvatarError's text where there is
    one). detail: more (a traceback for bugs). fatal: the run stopped because of it."""

    message: str
    detail: str = ""
    fatal: bool = False
    source: str = ""  # which part: "capture", "processing", "inference", a sink key


@dataclass
class RunnerObserver:
    """Base observer with no-op methods: subclass and override what you need. See the module docstring
    for threading rules."""

    def on_frame(self, report: FrameReport) -> None:
        pass

    def on_stats(self, stats: RunStats) -> None:
        pass

    def on_sink_state(self, state: SinkState) -> None:
        pass

    def on_error(self, error: RunnerError) -> None:
        pass

    def on_stopped(self, reason: str) -> None:
        """The run ended (source ended, stop(), duration reached, fatal error); all sinks are closed."""


_Arg = TypeVar("_Arg")


class GuardedObserver(RunnerObserver):
    """An observer as its caller calls it: each method calls the wrapped observer's and catches what it
    raises, so an observer bug never stops a run. failed(method name) is called inside the handler (it can
    log the traceback the caller's way)."""

    def __init__(self, observer: RunnerObserver, failed: Callable[[str], None]) -> None:
        self.observer = observer
        self._failed = failed

    def _call(self, method: Callable[[_Arg], None], name: str, arg: _Arg) -> None:
        try:
            method(arg)
        except Exception:  # noqa: BLE001 - an observer bug must not stop the pipeline
            self._failed(name)

    def on_frame(self, report: FrameReport) -> None:
        self._call(self.observer.on_frame, "on_frame", report)

    def on_stats(self, stats: RunStats) -> None:
        self._call(self.observer.on_stats, "on_stats", stats)

    def on_sink_state(self, state: SinkState) -> None:
        self._call(self.observer.on_sink_state, "on_sink_state", state)

    def on_error(self, error: RunnerError) -> None:
        self._call(self.observer.on_error, "on_error", error)

    def on_stopped(self, reason: str) -> None:
        self._call(self.observer.on_stopped, "on_stopped", reason)


@dataclass
class CollectingObserver(RunnerObserver):
    """Keeps what it is told (tests, CLI summaries); frames are not kept, only counted, to bound memory."""

    frames: int = 0
    last_report: FrameReport | None = None
    stats: list[RunStats] = field(default_factory=list)
    sink_states: list[SinkState] = field(default_factory=list)
    errors: list[RunnerError] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    stopped: str | None = None

    def on_frame(self, report: FrameReport) -> None:
        # the report first: a test thread that sees the count move must find this frame's report, not the last
        self.last_report = report
        self.frames += 1
        if not self.messages or self.messages[-1] != report.message:
            self.messages.append(report.message)

    def on_stats(self, stats: RunStats) -> None:
        self.stats.append(stats)

    def on_sink_state(self, state: SinkState) -> None:
        self.sink_states.append(state)

    def on_error(self, error: RunnerError) -> None:
        self.errors.append(error)

    def on_stopped(self, reason: str) -> None:
        self.stopped = reason
