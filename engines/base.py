"""The GeneratorEngine protocol every runtime implements, and the errors engines raise.

Boundary (validated by `check_inputs`, trusted inside):
  landmark_images: N×S×S×3 uint8 RGB, the rasterizer's output;
  psi:             N×L float32, one avatar's ψ per row;
  returns          N×S×S×3 uint8 RGB frames.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from liveavatar.errors import AvatarError, LiveAvatarError


class EngineUnavailable(LiveAvatarError):
    """This engine cannot run here; the message says why (shown by `auto` fallback and `doctor`)."""


class EngineError(LiveAvatarError):
    """An engine file (ONNX graph, TensorRT plan) is missing, corrupt or belongs to another model."""


class EngineInputError(LiveAvatarError, ValueError):
    """Frames handed to an engine do not have the shape or type its graph was built for."""


@runtime_checkable
class GeneratorEngine(Protocol):
    name: str  # e.g. "torch-cpu", "onnxruntime-cpu", "tensorrt-fp16"
    image_size: int
    psi_size: int
    last_ms: float  # wall time of the last infer call

    def infer(self, landmark_images: np.ndarray, psi: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def check_inputs(engine: GeneratorEngine, landmark_images: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Validates one infer call's arguments before they reach native code; returns ψ as C-contiguous float32."""
    s, size = engine.image_size, engine.psi_size
    if (
        not isinstance(landmark_images, np.ndarray)
        or landmark_images.dtype != np.uint8
        or landmark_images.ndim != 4
        or landmark_images.shape[1:] != (s, s, 3)
    ):
        got = getattr(landmark_images, "shape", type(landmark_images).__name__)
        dtype = getattr(landmark_images, "dtype", "")
        raise EngineInputError(f"{engine.name}: landmark images must be N×{s}×{s}×3 uint8 RGB, got {got} {dtype}")
    if landmark_images.shape[0] < 1:
        raise EngineInputError(f"{engine.name}: got an empty batch of landmark images")
    psi = np.asarray(psi)
    if psi.ndim != 2 or psi.shape[1] != size or psi.shape[0] != landmark_images.shape[0]:
        raise AvatarError(
            f"{engine.name}: ψ must be N×{size} (one row per landmark image) for this model, got {psi.shape}; "
            "the avatar was probably built for another preset or checkpoint: rebuild it with this one"
        )
    if not np.issubdtype(psi.dtype, np.floating):
        raise EngineInputError(f"{engine.name}: ψ must be float32, got {psi.dtype}")
    return np.ascontiguousarray(psi, dtype=np.float32)
