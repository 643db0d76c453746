"""The live path: latest-frame slots, the per-frame stages, and the Runner that wires them to threads.

See liveavatar.pipeline.runner for the Runner API (used by `liveavatar run`, `liveavatar demo` and the
desktop app's Qt bridge) and liveavatar.live.events for what an observer receives.
"""

from liveavatar.live.events import (
    CollectingObserver,
    FrameReport,
    Percentiles,
    RunnerError,
    RunnerObserver,
    RunStats,
    SinkState,
)
from liveavatar.live.spec import (
    Background,
    RunnerConfig,
    SinkSpec,
    SourceSpec,
    TrackingConfig,
    parse_background,
    parse_sink,
    parse_source,
)
from liveavatar.pipeline.runner import Runner

__all__ = [
    "Background",
    "FrameReport",
    "Percentiles",
    "CollectingObserver",
    "Runner",
    "RunnerConfig",
    "RunnerError",
    "RunnerObserver",
    "RunStats",
    "SinkSpec",
    "SinkState",
    "SourceSpec",
    "TrackingConfig",
    "parse_background",
    "parse_sink",
    "parse_source",
]
