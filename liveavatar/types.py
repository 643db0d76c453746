"""Plain data passed between pipeline stages.

Conventions at every boundary (see docs/ARCHITECTURE.md):
- images are numpy uint8 arrays, H×W×3, RGB order, C-contiguous;
- landmark coordinates are float32 pixel coordinates (x, y) in the image they were measured in;
- model tensors are float32 B×3×S×S in [-1, 1], RGB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One captured image. `image` is H×W×3 uint8 RGB; `timestamp` is time.monotonic() at capture; `clock` is
    the source's own time in seconds where it has one (a file's frame index over its fps), else None (a
    camera: its timestamp is its time). The tracking filters run on the source's time, so a clip drives the
    avatar the same however fast this machine reads it."""

    image: np.ndarray
    timestamp: float
    index: int
    clock: float | None = None

    @property
    def time(self) -> float:
        """The source's time when it has one, else the capture timestamp (seconds)."""
        return self.timestamp if self.clock is None else self.clock


@dataclass(frozen=True)
class FaceLandmarks:
    """The paper's 68-point layout in pixel coordinates of the image they came from.

    points68: 68×2 float32 (x, y). mesh: the tracker's 468×3 float32 (x, y in pixels, z in the tracker's
    scale) or None when the landmarks did not come from the mesh (scripted, retargeted). irises: 2×3 float32
    iris centres (subject's right eye first, like points 36-41; x, y in pixels, z like the mesh's) when the
    tracker refined them, else None; then iris_radii: 2 float32, their radii in pixels (the mean distance of
    each iris's four rim points from its centre).
    """

    points68: np.ndarray
    image_size: tuple[int, int]  # (width, height) of the image the points refer to
    mesh: np.ndarray | None = None
    irises: np.ndarray | None = None
    iris_radii: np.ndarray | None = None


@dataclass(frozen=True)
class WarpLayers:
    """What a `warp` checkpoint's frame graph gives for N frames (S: the crop's side, G: the warp's coarse grid).

    frames: N×S×S×3 uint8 RGB, the composite at the crop's size (what `infer` returns);
    flow:   N×G×G×2 float32, the spline's backward map: for each coarse cell centre of the driven crop (cell
            (i, j) centred at crop pixel ((j + 0.5)·S/G − 0.5, (i + 0.5)·S/G − 0.5)), the displacement (x, y)
            in crop pixels to the portrait point shown there; 0 where nothing moves;
    paint:  N×S×S×4 uint8, G's colours (RGB) and how much of them covers the moved portrait (A, 0–255).
    The full-resolution composite (liveavatar.render.full_resolution) moves the whole portrait by `flow` and
    lays `paint` over it, so the output keeps the portrait's own pixels at the output's resolution.
    """

    frames: np.ndarray
    flow: np.ndarray
    paint: np.ndarray

    def __getitem__(self, i: int) -> WarpLayers:
        """Frame i's layers, each keeping a batch of 1."""
        return WarpLayers(self.frames[i : i + 1], self.flow[i : i + 1], self.paint[i : i + 1])


# The warp's control points: the 68 landmarks and the two iris centres (liveavatar.landmarks.irises).
SPLINE_POINTS = 70


@dataclass(frozen=True)
class WarpAvatar:
    """What the frame graph of a `warp` checkpoint needs of one avatar, fixed from frame to frame.

    texture: S×S×3 uint8 RGB, the avatar's aligned crop (the pixels the spline moves);
    source:  70×2 float32 (SPLINE_POINTS), the spline's control points in crop pixels (where it starts): the
             crop's 68 landmarks, then its two iris centres (liveavatar.landmarks.irises.spline_source);
    inverse: n×n float32, the spline's L⁻¹ over `source` and the crop's border anchors (n = 70 + K + 3).
    Per frame the engine gets the driven 70×2 crop-pixel control points (spline_driven) beside the landmark
    image (drawn from the first 68) and ψ.
    """

    texture: np.ndarray
    source: np.ndarray
    inverse: np.ndarray

    def graph_inputs(self) -> dict[str, np.ndarray]:
        """The frame graph's per-avatar inputs by name, batch 1: texture 1×S×S×3 uint8 RGB, source 1×70×2 and
        inverse 1×n×n float32 (views, no copies, when the arrays already have those types)."""
        return {
            "texture": np.ascontiguousarray(self.texture, np.uint8)[None],
            "source": np.ascontiguousarray(self.source, np.float32)[None],
            "inverse": np.ascontiguousarray(self.inverse, np.float32)[None],
        }
