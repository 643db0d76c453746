"""The shipping path as an evaluation row (`eval --portraits --drivers`, row "live").

The "model" and "warp" rows measure the graph's 256-px crop. What a viewer sees is more: `run` tracks the
camera with the Processor (mediapipe in video mode, relative retargeting, the expression filter, the mouth's
rest), runs the frame graph on an engine, and the Composer moves the portrait itself at the output's
resolution, lays the driver's own mouth inside the lips, closes the lids and turns the irises
(docs/ARCHITECTURE.md). This row runs exactly those parts, frame by frame, on a clip's frames, and hands back
the output's face square (where the avatar's crop lies on the output) for the same measures as the other rows.

Frames are H×W×3 uint8 RGB throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

# The output the live path makes by default (`run --size`), and what the issue figures were measured at.
OUTPUT_SIZE = (1280, 720)


class LiveRenderer:
    """One checkpoint's shipping path. engine: the checkpoint's frame engine (engines.registry.create_engine's
    .engine: the core is handed it, it never reaches the engines layer)."""

    def __init__(self, checkpoint, engine: Any, output_size: tuple[int, int] = OUTPUT_SIZE) -> None:
        self.checkpoint = checkpoint
        self.engine = engine
        self.output_size = output_size

    def render(
        self, avatar, frames: Sequence[np.ndarray], fps: float, driver_mouth: bool = True
    ) -> tuple[list[np.ndarray], list[bool]]:
        """The clip's frames (`fps` of them a second) driving the avatar: per frame the output's face square
        (S'×S'×3, the crop's square on the output), and whether the neutral was still being captured then
        (the avatar holds its rest on those frames, whatever the driver does: measures leave them out)."""
        from liveavatar.avatar import warp_avatar_of
        from liveavatar.live.spec import Background, TrackingConfig
        from liveavatar.pipeline.stages import Composer, Processor, compose_frame, infer_frame

        size = self.checkpoint.config.image_size
        tracking = TrackingConfig()
        composer = Composer(*self.output_size)
        x0, y0, x1, y1 = composer.face_square(avatar, size)
        warp = warp_avatar_of(avatar, self.checkpoint)
        psi = avatar.psi[None].astype(np.float32)
        processor = Processor(tracking, size)
        faces: list[np.ndarray] = []
        capturing: list[bool] = []
        tracked = 0
        try:
            for i, frame in enumerate(frames):
                driven, _ = processor.process(frame, None, i / fps, avatar, "relative")
                face, layers = infer_frame(self.engine, psi, warp, driven)
                output = compose_frame(
                    composer, face, avatar, Background(), False, False, layers, driven, frame, driver_mouth
                )
                faces.append(np.ascontiguousarray(output[y0:y1, x0:x1]))
                tracked += driven.driver_now is not None
                capturing.append(tracked <= tracking.neutral_frames)
        finally:
            processor.close()
        return faces, capturing


def live_renderer(checkpoint, make_engine: Callable[[Any], Any] | None) -> LiveRenderer | None:
    """A LiveRenderer when an engine factory is given (engines.registry, from the command), else None."""
    return None if make_engine is None else LiveRenderer(checkpoint, make_engine(checkpoint))
