"""Avatar preparation for a run: each avatar checked against the checkpoint and paired with its engine.

A plain avatar renders on the run's base engine (ψ is an input of the graph, so switching is a vector swap);
a fine-tuned avatar carries its own generator weights and gets an engine of its own, which is closed when
the avatar is removed. For a `warp` checkpoint the prepared avatar also carries what its frame graph moves
(WarpAvatar: the crop, its landmarks and the spline's L⁻¹), which is an input too, so avatars still share
one engine. Engines come from the factory the runner was given (the CLI and the app pass
liveavatar.engines.registry.create_engine), so the pipeline never imports an engine runtime itself.
Thread-safe: the app prepares avatars on worker threads while the run goes on.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from liveavatar.avatar import Avatar, check_fits_checkpoint, warp_avatar_of
from liveavatar.errors import AvatarError
from liveavatar.models.checkpoint import Checkpoint
from liveavatar.types import WarpAvatar

if TYPE_CHECKING:  # types only: engines sit above the core and are reached through the factory
    from liveavatar.engines.base import GeneratorEngine
    from liveavatar.engines.registry import EngineChoice

log = logging.getLogger(__name__)


class EngineFactory(Protocol):
    """liveavatar.engines.registry.create_engine's shape: engine name ("auto", "onnxruntime", …), checkpoint,
    a fine-tuned avatar's generator weights or None → the engine and the reasons faster ones were skipped."""

    def __call__(
        self, choice: str, checkpoint: Checkpoint, generator_state: dict[str, Any] | None = None
    ) -> EngineChoice: ...


@dataclass(frozen=True)
class PreparedAvatar:
    """An avatar checked against the checkpoint, with the engine that renders it."""

    avatar: Avatar
    engine: GeneratorEngine
    own_engine: bool  # True for a fine-tuned avatar: its engine is closed when it is removed
    psi: np.ndarray  # 1×L float32, ready for the engine
    warp: WarpAvatar | None = None  # `warp` checkpoints: handed to the engine with every frame's driven points


class AvatarEngines:
    """The prepared avatars of one run and the engines they render on. open() builds the base engine."""

    def __init__(self, checkpoint: Checkpoint, engine: str, engine_factory: EngineFactory) -> None:
        self.checkpoint = checkpoint
        self._engine = engine
        self._factory = engine_factory
        self._lock = threading.Lock()
        self._prepared: dict[int, PreparedAvatar] = {}
        self._base: GeneratorEngine | None = None
        self.engine_name = ""
        self.engine_skipped: list[str] = []

    @property
    def is_open(self) -> bool:
        return self._base is not None

    def check(self, avatar: Avatar) -> None:
        """Raises AvatarError when the avatar does not fit this checkpoint (before any engine exists)."""
        check_fits_checkpoint(avatar, self.checkpoint.sha256, self.checkpoint.config.image_size)

    def open(self) -> None:
        choice = self._factory(self._engine, self.checkpoint)
        self._base = choice.engine
        self.engine_name = choice.engine.name
        self.engine_skipped = list(choice.skipped)

    def prepare(self, avatar: Avatar) -> PreparedAvatar:
        """The avatar with its engine and ψ; the same object for the same avatar until it is removed."""
        assert self._base is not None, "open() first"
        with self._lock:
            prepared = self._prepared.get(id(avatar))
        if prepared is not None:
            return prepared
        self.check(avatar)
        if avatar.is_finetuned:
            engine = self._factory(self._engine, self.checkpoint, avatar.generator_weights).engine
            own = True
        else:
            engine, own = self._base, False
        psi = np.ascontiguousarray(avatar.psi, np.float32).reshape(1, -1)
        if psi.shape[1] != engine.psi_size:
            if own:
                engine.close()
            raise AvatarError(
                f"avatar {avatar.name} has ψ of size {psi.shape[1]}; this model needs {engine.psi_size} "
                "(built for another preset): rebuild it with this checkpoint"
            )
        warp = warp_avatar_of(avatar, self.checkpoint)
        if engine.needs_warp != (warp is not None):  # both come from this checkpoint: a bug, not the user's
            if own:
                engine.close()
            raise AvatarError(f"engine {engine.name} and checkpoint preset {self.checkpoint.config.preset!r} disagree")
        prepared = PreparedAvatar(avatar, engine, own, psi, warp)
        with self._lock:
            self._prepared[id(avatar)] = prepared
        return prepared

    def remove(self, avatar: Avatar, current: PreparedAvatar | None) -> None:
        """Forgets a prepared avatar and closes its own engine; the current one stays."""
        if current is not None and current.avatar is avatar:
            return
        with self._lock:
            prepared = self._prepared.pop(id(avatar), None)
        if prepared is not None and prepared.own_engine:
            prepared.engine.close()

    def close(self) -> None:
        with self._lock:
            engines = [p.engine for p in self._prepared.values() if p.own_engine]
            self._prepared.clear()
        if self._base is not None:
            engines.append(self._base)
            self._base = None
        for engine in engines:
            try:
                engine.close()
            except Exception:  # noqa: BLE001 - closing must go on for the other engines
                log.exception("closing an engine")
