"""Retargeting: the driver's motion, not the driver's face, applied to the portrait's own landmarks.

Feeding a portrait's generator with the driver's landmarks as they are (the paper's setting, "absolute"
mode) makes the portrait take on the driver's face shape: jaw width, eye spacing, nose length. Here the
driver is measured against a neutral reference of the driver (captured at start and on calibrate()), and
only the change is transferred:

1. Head pose: a similarity (Umeyama) from the neutral's rigid points (upper jaw near the ears, nose,
   eye corners) to the current frame's gives scale s, rotation R and the centroid's translation. With the
   tracker's mesh, points carry depth and R is a full 3D rotation (yaw, pitch, roll); without (scripted
   driver) it is the in-plane rotation.
2. Expression: the current frame with the head pose undone, minus the neutral: a per-point residual in
   the neutral's frame (a blink, an open mouth, a raised brow).
3. The neutral is mapped onto the portrait by a 2D similarity (scale k, rotation Φ) fitted on the same
   rigid points; the residuals are carried through it and scaled per part and axis by how big that part
   is on the portrait relative to the driver (a portrait with a wider mouth opens it wider), clamped to
   [0.5, 2] so a closed-eyed portrait or a noisy frame cannot explode a part.
4. The portrait's points (given depth borrowed from the driver's neutral, scaled by k) get the mapped
   residuals, are rotated by R (expressed in the portrait's axes) and scaled by s about their rigid
   centroid, moved by the mapped translation, and projected orthographically.

When the driver is at the neutral the result is the portrait's landmarks exactly; the portrait's shape is
only ever deformed by motion. All points are 68×2 (x, y) pixels; the driver's in its camera image, the
portrait's in its avatar crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from liveavatar.landmarks.mesh68 import MESH_TO_68
from liveavatar.types import FaceLandmarks

# Points that move with the skull, not with expressions: jaw ends near the ears, nose, eye corners.
RIGID = np.array([0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45])
# Groups scaled together when expression residuals are carried onto the portrait.
PART_GROUPS: dict[str, np.ndarray] = {
    "jaw": np.arange(0, 17),
    "brows": np.arange(17, 27),
    "nose": np.arange(27, 36),
    "eyes": np.arange(36, 48),
    "mouth": np.arange(48, 68),
}
PART_SCALE_LIMITS = (0.5, 2.0)


@dataclass(frozen=True)
class RetargetLimits:
    """Bounds on the head motion carried over, so a driver walking out of frame cannot push the face out
    of the crop: scale within [min_scale, max_scale]; translation at most max_shift × the crop size."""

    min_scale: float = 0.7
    max_scale: float = 1.4
    max_shift: float = 0.25


def driver_points(landmarks: FaceLandmarks) -> np.ndarray:
    """68×3 (x, y, z) float64 of a driver frame: z from the tracker's mesh, 0 without one."""
    points = np.zeros((68, 3))
    points[:, :2] = landmarks.points68
    if landmarks.mesh is not None and landmarks.mesh.shape == (468, 3):
        points[:, 2] = landmarks.mesh[list(MESH_TO_68), 2]
    return points


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity dst ≈ s·R·src + t for N×d point sets (Umeyama 1991); R is a proper rotation."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var_s = (xs**2).sum() / len(src)
    cov = xd.T @ xs / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    d = np.ones(src.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    r = u @ np.diag(d) @ vt
    s = float((sigma * d).sum() / var_s) if var_s > 0 else 1.0
    t = mu_d - s * r @ mu_s
    return s, r, t


class Retargeter:
    """Maps driver frames onto a portrait's landmarks, relative to a neutral driver frame.

    target: the portrait's 68×2 landmarks (avatar crop pixels). crop_size: that crop's side (for limits).
    Call set_neutral() before the first __call__ (the runner does, from the first tracked frames).
    """

    def __init__(self, target: np.ndarray, crop_size: int, limits: RetargetLimits | None = None) -> None:
        if target.shape != (68, 2):
            raise ValueError(f"target must be 68×2 landmarks, got {target.shape}")
        self.target = np.asarray(target, np.float64)
        self.crop_size = crop_size
        self.limits = limits or RetargetLimits()
        self._neutral: np.ndarray | None = None

    @property
    def neutral(self) -> np.ndarray | None:
        """The 68×3 neutral driver points in use (the array given to set_neutral), or None."""
        return self._neutral

    def set_neutral(self, neutral: np.ndarray) -> None:
        """neutral: 68×3 driver points (driver_points), e.g. an average of a few calm frames."""
        n = np.asarray(neutral, np.float64)
        if n.shape != (68, 3):
            raise ValueError(f"neutral must be 68×3 driver points, got {n.shape}")
        self._neutral = n
        # The neutral → portrait similarity and the per-part scales only change with the neutral.
        k, phi, _ = umeyama(n[RIGID, :2], self.target[RIGID])
        self._k, self._phi = k, phi
        mapped = (k * (phi @ n[:, :2].T)).T
        self._part_scale = np.ones((68, 2))
        lo, hi = PART_SCALE_LIMITS
        for idx in PART_GROUPS.values():
            ext_p = np.ptp(self.target[idx], axis=0)
            ext_n = np.ptp(mapped[idx], axis=0)
            self._part_scale[idx] = np.clip(ext_p / np.maximum(ext_n, 1e-6), lo, hi)
        depth = n[:, 2] - n[RIGID, 2].mean()
        self._portrait3 = np.column_stack([self.target, k * depth])
        self._phi3 = np.eye(3)
        self._phi3[:2, :2] = phi

    def __call__(self, driver: np.ndarray) -> np.ndarray:
        """driver: 68×3 points of the current frame → 68×2 float32 portrait points (crop pixels)."""
        if self._neutral is None:
            raise RuntimeError("Retargeter.set_neutral must be called first")
        n = self._neutral
        d = np.asarray(driver, np.float64)
        three_d = bool(np.any(n[:, 2]) and np.any(d[:, 2]))
        dims = 3 if three_d else 2
        s, r, t = umeyama(n[RIGID, :dims], d[RIGID, :dims])
        # Undo the head pose: the current frame in the neutral's frame; the residual is the expression.
        undone = ((d[:, :dims] - t) @ r) / s
        residual = np.zeros((68, 3))
        residual[:, :dims] = undone - n[:, :dims]
        r3 = np.eye(3)
        r3[:dims, :dims] = r
        shift = d[RIGID, :2].mean(0) - n[RIGID, :2].mean(0)

        lim = self.limits
        s = float(np.clip(s, lim.min_scale, lim.max_scale))
        expr = np.empty((68, 3))
        expr[:, :2] = self._part_scale * (self._k * (self._phi @ residual[:, :2].T)).T
        expr[:, 2] = self._k * residual[:, 2]
        q = self._portrait3 + expr
        centre = self._portrait3[RIGID].mean(0)
        r_p = self._phi3 @ r3 @ self._phi3.T  # the head rotation in the portrait's axes
        moved = centre + s * (q - centre) @ r_p.T
        shift_p = self._k * (self._phi @ shift)
        max_shift = lim.max_shift * self.crop_size
        norm = float(np.hypot(*shift_p))
        if norm > max_shift:
            shift_p *= max_shift / norm
        return (moved[:, :2] + shift_p).astype(np.float32)
