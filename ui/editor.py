"""PoseEditor: the app's edit mode renders hand-set poses of the current avatar, off the GUI thread.

One render at a time on its own one-thread TaskPool; while one runs, only the newest requested pose
waits (slider drags never queue up). The engine is built on the worker on first use and rebuilt when the
avatar, checkpoint, engine or output size changes. Callbacks arrive on the GUI thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from liveavatar.landmarks.posing import PoseSettings

if TYPE_CHECKING:
    from liveavatar.pipeline.posing import PoseRenderer

from .tasks import TaskPool


class PoseEditor(QObject):
    rendered = Signal(object)  # liveavatar.pipeline.posing.PosedFrame
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = TaskPool("editor", threads=1)
        self.last = None  # the last PosedFrame
        self.renders = 0
        self._target: tuple | None = None  # (checkpoint, avatar, engine, output size, background)
        self._renderer: PoseRenderer | None = None
        self._renderer_key: tuple | None = None
        self._busy = False
        self._pending: PoseSettings | None = None
        self._closed = False

    def set_target(self, checkpoint, avatar, engine: str, output_size: tuple[int, int], background) -> None:
        self._target = (checkpoint, avatar, engine, tuple(output_size), background)

    def request(self, pose: PoseSettings) -> None:
        """Renders `pose` as soon as the worker is free (a newer request replaces a waiting one)."""
        if self._closed or self._target is None or self._target[0] is None or self._target[1] is None:
            return
        if self._busy:
            self._pending = pose
            return
        self._busy = True
        target = self._target
        self.pool.submit(lambda task: self._render(target, pose), on_done=self._done, on_failed=self._failed)

    def _render(self, target: tuple, pose: PoseSettings):
        from liveavatar.avatar import warp_avatar_of
        from liveavatar.engines.registry import create_engine
        from liveavatar.pipeline.posing import PoseRenderer

        checkpoint, avatar, engine, (width, height), background = target
        key = (id(checkpoint), id(avatar), engine, width, height)
        renderer = self._renderer
        if renderer is None or self._renderer_key != key:
            if renderer is not None:
                renderer.engine.close()
                self._renderer = None
            choice = create_engine(engine, checkpoint, avatar.generator_weights)
            warp = warp_avatar_of(avatar, checkpoint)
            renderer = self._renderer = PoseRenderer(avatar, choice.engine, width, height, warp=warp)
            self._renderer_key = key
        return renderer.render(pose, background)

    def _done(self, frame) -> None:
        self._busy = False
        self.last = frame
        self.renders += 1
        self.rendered.emit(frame)
        self._next()

    def _failed(self, exc: Exception, trace: str) -> None:
        self._busy = False
        self.failed.emit(f"cannot render the pose: {exc}")
        self._next()

    def _next(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            self.request(pending)

    def shutdown(self) -> None:
        self._closed = True
        self.pool.shutdown()
        if self._renderer is not None:
            self._renderer.engine.close()
            self._renderer = None
