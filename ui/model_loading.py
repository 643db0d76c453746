"""ModelLoading: finds and opens the checkpoint, and lists the machine's cameras and engines, off the GUI.

A part of the window that gets the loader, the settings and callbacks, never the window itself (the window
imports its parts; a part importing the window back would be a circle). Both jobs run on the loader's worker
thread: opening a checkpoint hashes it, and probing cameras can take seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from .settings import AppSettings
from .tasks import TaskPool


class ModelLoading:
    """path: the checkpoint asked for (None: the one opened last, else the bundled one); probe_vcam(): False
    while the virtual camera is meant to be on; loaded(checkpoint), failed(exc, trace), sources_found(found):
    the window's answers, on the GUI thread."""

    def __init__(
        self,
        parent: QWidget,
        loader: TaskPool,
        settings: AppSettings,
        path: Path | None,
        *,
        probe_vcam: Callable[[], bool],
        loaded: Callable[[object], None],
        failed: Callable[[Exception, str], None],
        sources_found: Callable[[tuple], None],
    ) -> None:
        self.parent = parent
        self.loader = loader
        self.settings = settings
        self.path = path
        self.probe_vcam = probe_vcam
        self.loaded = loaded
        self.failed = failed
        self.sources_found = sources_found

    def load(self) -> None:
        """Finds and loads the checkpoint on a worker thread; then the gallery and the cameras."""
        from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

        wanted = self.path
        remembered = self.settings.get_str("checkpoint")

        def work(task):
            path = wanted
            if path is None and remembered and Path(remembered).is_file():
                path = Path(remembered)  # the model the user opened last time
            return open_checkpoint(resolve_checkpoint(path))

        self.loader.submit(work, on_done=self.loaded, on_failed=self.failed, name="load model")
        probe_vcam = self.probe_vcam()
        self.loader.submit(lambda task: find_sources(probe_vcam), on_done=self.sources_found, name="list cameras")

    def open_dialog(self) -> Path | None:
        """Asks for a checkpoint file; the one chosen is remembered and loaded (None: the user cancelled)."""
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open a model", "", "Checkpoints (*.safetensors)")
        if not path:
            return None
        self.settings.set("checkpoint", path)
        self.path = Path(path)
        return self.path


def find_sources(probe_vcam: bool):
    """(cameras as (value, label), engine availability, why the virtual camera cannot open or None), all
    from doctor's checks (liveavatar.environment.health, the engine table): worker thread (probing cameras can be slow).
    probe_vcam: False while the virtual camera is meant to be on, so the probe never contends with it."""
    from liveavatar.engines.registry import engine_availability
    from liveavatar.environment import health

    cameras = [
        (c.source, c.name or f"Camera {c.source.split(':')[1]}")
        for c in health.check_cameras().cameras
        if not c.virtual
    ]
    return cameras, engine_availability(), health.virtual_camera_problem() if probe_vcam else None
