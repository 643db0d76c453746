"""OutputActions: the outputs panel's switches (virtual camera, stream, recording) and recordings folder.

A part of the window that gets the panel, the session and callbacks, never the window itself (the window
imports its parts; a part importing the window back would be a circle). Opening and closing outputs is the
session's, on its worker thread; this part says what is happening on the panel and in the status area.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QFileDialog, QWidget

from liveavatar.live.events import SinkState

from .paths import default_recordings_dir
from .session import LiveSession
from .settings import AppSettings
from .widgets.controls import OutputsPanel


class OutputActions:
    def __init__(
        self,
        parent: QWidget,
        panel: OutputsPanel,
        session: LiveSession,
        settings: AppSettings,
        post: Callable[..., object],
    ) -> None:
        self.parent = parent
        self.panel = panel
        self.session = session
        self.settings = settings
        self.post = post
        session.output_failed.connect(panel.show_failure)
        session.sink_state.connect(self._on_sink_state)
        panel.vcam_toggled.connect(self._toggle_vcam)
        panel.record_toggled.connect(self._toggle_record)
        panel.http_toggled.connect(self._toggle_http)
        panel.open_recordings.connect(self._open_recordings)
        panel.choose_recordings.connect(self._choose_recordings_dir)

    def _toggle_vcam(self, on: bool) -> None:
        self.panel.vcam.set_state("Opening…" if on else "")
        self.session.set_vcam(on)

    def _toggle_http(self, on: bool, port: int) -> None:
        self.panel.http.set_state("Starting…" if on else "")
        self.session.set_http(on, port)

    def _toggle_record(self, on: bool) -> None:
        if on:
            if self.session.runner is None:
                self.panel.record.set_on(False)
                self.post("Recording needs the live view running: choose a source and an avatar", "warning")
                return
            path = self.recordings_dir() / f"liveavatar-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
            self.panel.record.set_state(f"Starting {path.name}…")
            self.session.start_recording(path)
        else:
            self.session.stop_recording()

    def recordings_dir(self) -> Path:
        saved = self.settings.get_str("outputs/record_dir")
        return Path(saved) if saved else default_recordings_dir()

    def _choose_recordings_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.parent, "Save recordings in", str(self.recordings_dir()))
        if folder:
            self.settings.set("outputs/record_dir", folder)
            self.panel.record.set_state(f"Recordings go to {folder}")

    def _open_recordings(self) -> None:
        folder = self.recordings_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _on_sink_state(self, state: SinkState) -> None:
        saved = self.panel.show_sink_state(state)
        if state.kind == "vcam" and state.status == "failed":
            self.session.vcam_on = False
        if state.kind == "http" and state.status == "failed":
            self.session.http_on = False
        if saved is not None:
            self.post(f"Recording saved: {saved}", "info", key="record-saved")
