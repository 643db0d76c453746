"""Where output frames go: virtual camera, MP4 recorder, HTTP MJPEG stream, preview window.

Each sink module imports its heavy or optional dependency (pyvirtualcam, HighGUI) only when opened.
"""

from __future__ import annotations

from collections.abc import Callable

from liveavatar.live.spec import SinkSpec
from liveavatar.sinks.base import Report, Sink, fit_frame


def create_sink(
    spec: SinkSpec,
    report: Report,
    on_quit: Callable[[str], None] | None = None,
    lossless: bool = False,
    model_sha256: str = "",
) -> Sink:
    """The sink a spec names (not opened yet). report: receives SinkState changes from the sink's threads.
    on_quit: called when the sink asks to end the run (the preview window was closed). model_sha256: the
    generator's checkpoint digest, named in a recording's C2PA manifest."""
    if spec.kind == "vcam":
        from liveavatar.sinks.vcam import VcamSink

        return VcamSink(spec.width, spec.height, spec.fps or 30.0, report)
    if spec.kind == "record":
        from liveavatar.sinks.record import RecordSink

        assert spec.path is not None
        return RecordSink(spec.path, spec.width, spec.height, spec.fps or 30.0, report, lossless, model_sha256)
    if spec.kind == "http":
        from liveavatar.sinks.http import HttpSink

        return HttpSink(spec.host, spec.port, report, token=spec.token)
    if spec.kind == "preview":
        from liveavatar.sinks.preview import PreviewSink

        return PreviewSink(report, on_quit)
    raise ValueError(f"unknown sink kind {spec.kind!r}")


__all__ = ["Report", "Sink", "create_sink", "fit_frame"]
