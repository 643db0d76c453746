"""The thin-plate spline's linear system over an avatar's landmarks, and its inverse: numpy only.

Computed once per avatar (building an avatar, loading one written without it), so it must run where
PyTorch is absent: the runtime builds avatars on ONNX Runtime alone. The per-frame warp that uses L⁻¹ is
liveavatar/models/warp.py (PyTorch, exported into the frame graph).

Points are (x, y) crop pixels with pixel centres at integers; inside, unit coordinates u = (x + 0.5) / S.
The system L over the n = P + K centres (the landmarks and K fixed anchors on the crop's border):
  [ K(r²) + λI   1   s ]
  [ 1ᵀ           0   0 ]      K(r²) = r² log r²,  an (n+3)×(n+3) matrix depending on the portrait only.
  [ sᵀ           0   0 ]
"""

from __future__ import annotations

import numpy as np

BORDER_ANCHORS = 3  # points per side → 4·(3 − 1) = 8 anchors: corners and edge midpoints, which never move


def border_anchors(per_side: int = BORDER_ANCHORS) -> np.ndarray:
    """Fixed points on the crop's border (unit coordinates), K×2 float64; none when per_side is 0."""
    if per_side <= 0:
        return np.zeros((0, 2))
    t = np.linspace(0.0, 1.0, per_side)
    ring = [(x, 0.0) for x in t] + [(x, 1.0) for x in t] + [(0.0, y) for y in t[1:-1]] + [(1.0, y) for y in t[1:-1]]
    return np.asarray(ring, dtype=np.float64)


def to_unit(points, size: int):
    """Crop pixels (pixel centres at integers) → unit coordinates in [0, 1] across the crop (numpy or torch)."""
    return (points + 0.5) / size


def kernel(r2: np.ndarray) -> np.ndarray:
    """U(r) = r² log r²; the epsilon keeps 0·log 0 at 0 instead of NaN."""
    return r2 * np.log(r2 + 1e-12)


def tps_inverse(
    points: np.ndarray, size: int, anchors: int = BORDER_ANCHORS, regularization: float = 0.0
) -> np.ndarray:
    """Portrait landmarks (P×2 crop pixels) → L⁻¹, (P+K+3)×(P+K+3) float32; once per avatar.

    `regularization` λ adds λ·I to the kernel block: 0 interpolates the landmarks exactly, larger values
    trade exactness for smoothness (what one noisy landmark can do to its neighbourhood).
    """
    src = np.concatenate([to_unit(np.asarray(points, np.float64), size), border_anchors(anchors)])
    n = len(src)
    r2 = ((src[:, None, :] - src[None, :, :]) ** 2).sum(-1)
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = kernel(r2) + regularization * np.eye(n)
    system[:n, n] = 1.0
    system[:n, n + 1 :] = src
    system[n, :n] = 1.0
    system[n + 1 :, :n] = src.T
    return np.linalg.inv(system).astype(np.float32)
