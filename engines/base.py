"""The GeneratorEngine protocol every runtime implements, and the errors engines raise.

Boundary (validated by `check_inputs`, trusted inside):
  landmark_images: N×S×S×3 uint8 RGB, the rasterizer's output;
  psi:             N×L float32, one avatar's ψ per row;
  warp, driven:    engines of `warp` checkpoints only (engine.needs_warp), None otherwise:
                   warp   the avatar's WarpAvatar (liveavatar.types: crop S×S×3 uint8 RGB, its 70×2 crop-pixel
                          control points: 68 landmarks and 2 iris centres, the spline's L⁻¹), fixed between frames;
                   driven N×70×2 float32, the driven control points in crop pixels (the landmark images were drawn
                          from their first 68; liveavatar.landmarks.irises.spline_driven);
  returns          N×S×S×3 uint8 RGB frames.
Engines of `warp` checkpoints also have `infer_layers` (same arguments): the frames with the layers the
full-resolution composite needs (liveavatar.types.WarpLayers: the graph's outputs WARP_OUTPUTS).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from liveavatar.errors import AvatarError, LiveAvatarError
from liveavatar.types import SPLINE_POINTS, WarpAvatar, WarpLayers

WARP_OUTPUTS = ("frame", "flow", "paint")  # a warp frame graph's outputs, in WarpLayers' order


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
    needs_warp: bool  # True for a `warp` checkpoint's frame graph: infer wants `warp` and `driven`

    def infer(
        self,
        landmark_images: np.ndarray,
        psi: np.ndarray,
        warp: WarpAvatar | None = None,
        driven: np.ndarray | None = None,
    ) -> np.ndarray: ...

    def close(self) -> None: ...


@runtime_checkable
class WarpFrameEngine(GeneratorEngine, Protocol):
    """An engine of a `warp` checkpoint's frame graph (needs_warp): infer's frames with their layers."""

    def infer_layers(
        self,
        landmark_images: np.ndarray,
        psi: np.ndarray,
        warp: WarpAvatar | None = None,
        driven: np.ndarray | None = None,
    ) -> WarpLayers: ...


def check_inputs(
    engine: GeneratorEngine,
    landmark_images: np.ndarray,
    psi: np.ndarray,
    warp: WarpAvatar | None = None,
    driven: np.ndarray | None = None,
) -> np.ndarray:
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
    if getattr(engine, "needs_warp", False):
        check_warp_inputs(engine, landmark_images.shape[0], warp, driven)
    elif warp is not None or driven is not None:
        raise EngineInputError(f"{engine.name}: this model has no warp; pass no warp inputs or driven landmarks")
    return np.ascontiguousarray(psi, dtype=np.float32)


def check_warp_inputs(engine: GeneratorEngine, batch: int, warp: WarpAvatar | None, driven: np.ndarray | None) -> None:
    """The avatar's texture, landmarks and L⁻¹ and the driven landmarks of a warp checkpoint's engine."""
    s = engine.image_size
    if warp is None or driven is None:
        raise EngineInputError(
            f"{engine.name}: a warp model needs the avatar's texture, landmarks and spline (warp=) and the driven "
            "landmarks (driven=) with every frame"
        )
    if warp.texture.dtype != np.uint8 or warp.texture.shape != (s, s, 3):
        raise EngineInputError(f"{engine.name}: the texture must be {s}×{s}×3 uint8 RGB, got {warp.texture.shape}")
    if warp.source.shape != (SPLINE_POINTS, 2):
        raise EngineInputError(
            f"{engine.name}: the avatar's control points must be {SPLINE_POINTS}×2, got {warp.source.shape}"
        )
    n = warp.inverse.shape[0] if warp.inverse.ndim == 2 else -1
    if warp.inverse.shape != (n, n):
        raise EngineInputError(f"{engine.name}: the spline's L⁻¹ must be square, got {warp.inverse.shape}")
    if not isinstance(driven, np.ndarray) or driven.shape != (batch, SPLINE_POINTS, 2):
        got = getattr(driven, "shape", type(driven).__name__)
        raise EngineInputError(
            f"{engine.name}: driven control points must be {batch}×{SPLINE_POINTS}×2 crop pixels, got {got}"
        )
