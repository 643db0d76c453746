"""The GeneratorEngine protocol every runtime implements.

Boundary (validated by `check_inputs`, trusted inside):
  landmark_images: N×S×S×3 uint8 RGB, the rasterizer's output;
  psi:             N×L float32, one avatar's ψ per row;
  returns          N×S×S×3 uint8 RGB frames.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from liveavatar.errors import LiveAvatarError


class EngineUnavailable(LiveAvatarError):
    """This engine cannot run here; the message says why (shown by `auto` fallback and `doctor`)."""


@runtime_checkable
class GeneratorEngine(Protocol):
    name: str  # e.g. "torch-cpu", "onnxruntime-cpu", "tensorrt-fp16"
    image_size: int
    psi_size: int
    last_ms: float  # wall time of the last infer call

    def infer(self, landmark_images: np.ndarray, psi: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def check_inputs(engine: GeneratorEngine, landmark_images: np.ndarray, psi: np.ndarray) -> None:
    s, l = engine.image_size, engine.psi_size
    if landmark_images.dtype != np.uint8 or landmark_images.ndim != 4 or landmark_images.shape[1:] != (s, s, 3):
        raise ValueError(
            f"{engine.name}: landmark images must be N×{s}×{s}×3 uint8 RGB, got {landmark_images.shape} {landmark_images.dtype}"
        )
    if psi.ndim != 2 or psi.shape[1] != l or psi.shape[0] != landmark_images.shape[0]:
        raise LiveAvatarError(
            f"{engine.name}: ψ must be N×{l} (one row per landmark image) for this model, got {psi.shape}; "
            "the avatar was probably built for another preset"
        )
