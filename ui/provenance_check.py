"""ProvenanceCheck: a file dropped on the window is checked for LiveAvatar's watermark and C2PA manifest.

A part of the window that gets what it drives (the task pool, the status area), never the window itself.
The work is liveavatar.provenance.check's, off the GUI thread; the verdict goes to the status area.
"""

from __future__ import annotations

from pathlib import Path

from .tasks import TaskPool
from .widgets.status import StatusArea


class ProvenanceCheck:
    def __init__(self, loader: TaskPool, status: StatusArea) -> None:
        self._loader = loader
        self._status = status

    def check(self, path: Path) -> None:
        from liveavatar.provenance.check import provenance_note

        def show(note: tuple[str, str]) -> None:
            self._status.post(note[1], note[0], key=f"provenance:{path}")

        self._loader.submit(lambda task: provenance_note(path), on_done=show, name="check provenance")
