"""Renders hand-set poses of an avatar without a camera: `liveavatar pose` and the app's edit mode.

The same parts as the live path: the one rasterizer, an engine, the Composer (background, AI mark).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveavatar.avatar import Avatar
from liveavatar.landmarks.irises import spline_driven
from liveavatar.landmarks.posing import PoseSettings, pose_irises, pose_points
from liveavatar.live.spec import Background
from liveavatar.pipeline.stages import Composer
from liveavatar.render.rasterize import rasterize_landmarks
from liveavatar.types import WarpAvatar


@dataclass(frozen=True)
class PosedFrame:
    """points: 68×2 float32 crop landmarks; landmark_image and face: S×S×3 uint8 RGB; output: H×W×3 uint8
    RGB, the face pasted back with the AI mark unless turned off; control: the warp's 70×2 driven control
    points (the landmarks and the turned irises), None for the paper's presets."""

    points: np.ndarray
    landmark_image: np.ndarray
    face: np.ndarray
    output: np.ndarray
    control: np.ndarray | None = None


class PoseRenderer:
    """One avatar, one engine (GeneratorEngine), output width×height. Not thread-safe.
    warp: the avatar's WarpAvatar (liveavatar.avatar.warp_avatar_of) when the engine runs a `warp` checkpoint."""

    def __init__(
        self, avatar: Avatar, engine, width: int, height: int, ai_mark: bool = True, warp: WarpAvatar | None = None
    ) -> None:
        self.avatar = avatar
        self.engine = engine
        self.warp = warp
        self.ai_mark = ai_mark
        self.size = avatar.crop.shape[0]
        self._psi = np.ascontiguousarray(avatar.psi, np.float32).reshape(1, -1)
        self._composer = Composer(width, height)

    def render(self, settings: PoseSettings, background: Background | None = None) -> PosedFrame:
        points = pose_points(self.avatar.landmarks, settings, self.size)
        image = rasterize_landmarks(points, self.size)
        layers = driven = None
        if self.warp is not None:
            irises = pose_irises(self.avatar.landmarks, self.avatar.irises, points, settings)
            driven = spline_driven(points, irises, self.avatar.landmarks, self.avatar.irises)[None]  # 1×70×2
            layers = self.engine.infer_layers(image[None], self._psi, self.warp, driven)
            face = layers.frames[0]
        else:
            face = self.engine.infer(image[None], self._psi)[0]
        irises = None if driven is None else driven[0, 68:]
        output = self._composer.compose(
            face, self.avatar, background or Background(), False, self.ai_mark, layers, points=points, irises=irises
        )
        return PosedFrame(points, image, face, output, None if driven is None else driven[0])
