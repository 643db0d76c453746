"""The runner's outputs: the set of open sinks, their states, the fan-out of each frame, and drop counts.

The runner owns one SinkSet and hands it callbacks, the way `create_sink(spec, report, on_quit)` works one
level down: `report` gets every SinkState change, `on_error` a message for the user (message, detail,
source key), `on_quit` a sink's request to end the run. So nothing here imports the runner.
Thread-safe: sinks are opened and closed from any thread while the inference thread fans frames out.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from liveavatar.errors import DeviceUnavailableError, LiveAvatarError
from liveavatar.live.events import SinkState, sink_kind
from liveavatar.live.spec import SinkSpec
from liveavatar.sinks import Report, Sink, create_sink
from liveavatar.types import Frame

ErrorReport = Callable[[str, str, str], None]  # (message, detail, source key)


def precheck_sink(spec: SinkSpec) -> None:
    """Input errors a sink can have (a folder that cannot take the file, a port in use), checked without
    opening anything, so a run refuses them before its costly parts."""
    if spec.kind == "record":
        from liveavatar.sinks.record import check_destination

        assert spec.path is not None
        check_destination(spec.path)
    if spec.kind == "http":
        from liveavatar.sinks.http import check_port

        check_port(spec.host, spec.port)


class SinkSet:
    """The open sinks of one run, keyed by SinkSpec.key. output_size: (width, height) of the frames a
    recording gets; source_fps: asked when a recording opens (its frame rate is the source's)."""

    def __init__(
        self,
        output_size: tuple[int, int],
        lossless: bool,
        source_fps: Callable[[], float],
        report: Report,
        on_error: ErrorReport,
        on_quit: Callable[[str], None],
        model_sha256: str = "",
    ) -> None:
        self._model_sha256 = model_sha256  # for recordings' C2PA manifests
        self._output_size = output_size
        self._lossless = lossless
        self._source_fps = source_fps
        self._report = report
        self._on_error = on_error
        self._on_quit = on_quit
        self._lock = threading.Lock()
        self._sinks: dict[str, Sink] = {}
        self._states: dict[str, SinkState] = {}
        self._closed_drops: dict[str, int] = {}  # drops of sinks already closed, kept for the final stats
        self.pumped: list[Sink] = []  # sinks whose window the main thread drives (Runner.wait)

    # ------------------------------------------------------------------ opening and closing

    def open(self, spec: SinkSpec, raise_device_errors: bool) -> str:
        """Opens a sink and feeds it from the next frame. A missing device (virtual camera, display) is
        reported and, unless raise_device_errors, does not raise: it must not take the other sinks down."""
        key = spec.key
        with self._lock:
            if key in self._sinks:
                return key
        if spec.kind == "record":
            w, h = self._output_size
            spec = replace(spec, width=w, height=h, fps=spec.fps or self._source_fps())
        self._set_state(SinkState(key, "opening"))
        sink = create_sink(spec, self._set_state, self._on_quit, self._lossless, self._model_sha256)
        try:
            detail = sink.open()
        except DeviceUnavailableError as exc:
            self._set_state(SinkState(key, "failed", str(exc)))
            self._on_error(str(exc), "", key)
            if raise_device_errors:
                raise
            return key
        except LiveAvatarError as exc:
            self._set_state(SinkState(key, "failed", str(exc)))
            raise
        with self._lock:
            self._sinks[key] = sink
        if sink.pumped_on_main_thread:
            self.pumped.append(sink)
        self._set_state(SinkState(key, "running", detail))
        return key

    def add(self, spec: SinkSpec) -> str:
        """Checks, then opens a sink now. Raises LiveAvatarError if it cannot open."""
        precheck_sink(spec)
        return self.open(spec, raise_device_errors=True)

    def remove(self, key: str) -> None:
        with self._lock:
            sink = self._sinks.pop(key, None)
        if sink is not None:
            self._close(key, sink)

    def remove_kind(self, kind: str, key: str | None = None) -> None:
        """Closes every sink of a kind ("record", "http"), or only `key` among them."""
        with self._lock:
            keys = [k for k in self._sinks if sink_kind(k) == kind and (key is None or k == key)]
        for k in keys:
            self.remove(k)

    def close_all(self) -> None:
        with self._lock:
            sinks = list(self._sinks.items())
            self._sinks.clear()
        for key, sink in sinks:
            self._close(key, sink)

    def _close(self, key: str, sink: Sink) -> None:
        self._closed_drops[key] = sink.dropped
        try:
            sink.close()
        except LiveAvatarError as exc:
            self._set_state(SinkState(key, "failed", str(exc)))
            self._on_error(str(exc), "", key)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in one sink must not stop the others closing
            self._on_error(f"closing {key} failed: {exc}", traceback.format_exc(), key)
        detail = sink.saved_detail or self._states.get(key, SinkState(key, "closed")).detail
        self._set_state(SinkState(key, "closed", detail))

    # ------------------------------------------------------------------ the convenience toggles

    def start_recording(self, path: str | Path) -> str:
        return self.add(SinkSpec("record", path=Path(path)))

    def stop_recording(self, key: str | None = None) -> None:
        self.remove_kind("record", key)

    def set_vcam(self, on: bool, spec: SinkSpec | None = None) -> str | None:
        if on:
            return self.add(spec or SinkSpec("vcam", fps=30.0))
        self.remove("vcam")
        return None

    def set_http(self, on: bool, port: int = 8765, token: bool | str = True) -> str | None:
        if on:
            return self.add(SinkSpec("http", port=port, token=token))
        self.remove_kind("http")
        return None

    # ------------------------------------------------------------------ frames and figures

    def send(self, frame: Frame, wait: bool) -> None:
        """One output frame to every open sink (each does its slow work in its own thread)."""
        with self._lock:
            sinks = list(self._sinks.values())
        for sink in sinks:
            sink.send(frame, wait=wait)

    def states(self) -> dict[str, SinkState]:
        with self._lock:
            return dict(self._states)

    def dropped(self) -> dict[str, int]:
        """Frames each sink let go, closed ones included."""
        with self._lock:
            dropped = dict(self._closed_drops)
            dropped.update((key, sink.dropped) for key, sink in self._sinks.items())
        return dropped

    def _set_state(self, state: SinkState) -> None:
        with self._lock:
            self._states[state.key] = state
        self._report(state)
