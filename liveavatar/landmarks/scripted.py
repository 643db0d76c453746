"""The built-in performance the demo plays when no driving video is given.

An 8-second loop on the portrait's own landmarks: the head turns left and right (yaw) and nods twice
(pitch), the eyes blink three times, the mouth opens, then a smile. Expressions are applied to the frontal
68 points in the face's own axes (eye line and its normal), then the head is rotated in 3D about the face
centre and projected orthographically. Depth comes from the face mesh when the portrait has one; without it
an approximate depth (a half-ellipsoid across the jaw width with the nose standing out) stands in.
Everything is a smooth function of time that is at rest at both ends, so the loop has no seam.
FaceRig is the same geometry with its knobs exposed: `liveavatar pose` and the app's edit mode use it.
"""

from __future__ import annotations

import math

import numpy as np

from liveavatar.landmarks.mesh68 import MESH_TO_68
from liveavatar.types import FaceLandmarks

LOOP_SECONDS = 8.0
MAX_YAW_DEG = 20.0
MAX_PITCH_DEG = 10.0

# (start, rise, hold, fall) in seconds; the hold lasts several frames so an eye is fully shut at some frame.
_BLINKS = ((1.2, 0.08, 0.12, 0.1), (4.4, 0.08, 0.12, 0.1), (6.9, 0.08, 0.12, 0.1))
_MOUTH_OPEN = (2.0, 0.35, 0.5, 0.35)
_SMILE = (5.0, 0.4, 1.0, 0.5)

# Eyelid pairs that meet when an eye closes (upper, lower) in the 68-point layout.
_LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))
# How far each point follows the jaw as the mouth opens: lower lip fully, the chin most, the jaw sides less.
_JAW_WEIGHTS = {
    **{i: 1.0 for i in (55, 56, 57, 58, 59, 65, 66, 67)},
    **{i: 0.5 for i in (48, 54, 60, 64)},
    8: 0.85, 7: 0.75, 9: 0.75, 6: 0.55, 10: 0.55, 5: 0.3, 11: 0.3, 4: 0.12, 12: 0.12,
}  # fmt: skip
# Smile: mouth corners move out and up; their neighbours follow halfway. +1 is towards the subject's left.
_SMILE_WEIGHTS = {48: (-1, 1.0), 60: (-1, 1.0), 54: (1, 1.0), 64: (1, 1.0),
                  49: (-1, 0.4), 59: (-1, 0.5), 53: (1, 0.4), 55: (1, 0.5)}  # fmt: skip


def _smoothstep(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def pulse(t: float, start: float, rise: float, hold: float, fall: float) -> float:
    """0 before `start`, rising smoothly to 1 over `rise` s, held `hold` s, falling to 0 over `fall` s."""
    if t <= start + rise:
        return _smoothstep((t - start) / rise)
    return 1.0 - _smoothstep((t - start - rise - hold) / fall)


BROW_RAISE = 0.15  # brows at 1 rise this many eye distances (a surprised raise)


class FaceRig:
    """Poses a face's 68 landmarks by hand: head yaw, pitch, roll (degrees) and expressions in [0, 1]
    (smile, mouth open, eyes closed; brows in [-1, 1], up positive), applied in the face's own axes.

    base: the face's landmarks in its image's pixels (with its mesh, for depth, when it has one).
    pose() with everything at 0 returns base's points exactly.
    """

    def __init__(self, base: FaceLandmarks) -> None:
        points = np.asarray(base.points68, np.float64)
        eye_r = points[36:42].mean(axis=0)
        eye_l = points[42:48].mean(axis=0)
        across = eye_l - eye_r
        self.iod = max(float(np.hypot(*across)), 1e-3)  # inter-ocular distance: the unit of every motion
        # The face's own axes: along the eye line towards the subject's left (image-right when upright),
        # and perpendicular to it, down the face.
        self.across = across / self.iod
        self.down = np.array([-self.across[1], self.across[0]])
        self.points = points
        self.depth = self._depth_of(base, points)
        self.centre = np.array([*points.mean(axis=0), self.depth[0:17].mean()])

    def _depth_of(self, base: FaceLandmarks, points: np.ndarray) -> np.ndarray:
        """68 depths (smaller is nearer the camera, scaled like x), from the mesh or approximated."""
        if base.mesh is not None and base.mesh.shape == (468, 3):
            return np.asarray(base.mesh, np.float64)[list(MESH_TO_68), 2]
        centre = points.mean(axis=0)
        half_width = max(float(np.ptp(points[0:17, 0])) / 2, 1e-3)
        across = np.clip((points - centre) @ self.across / half_width, -1.0, 1.0)
        depth = -0.6 * half_width * np.sqrt(1.0 - across**2)  # a face bulges towards the camera in the middle
        # The nose stands out, most at its tip.
        nose = np.zeros(68)
        nose[27:36] = (0.05, 0.12, 0.2, 0.3, 0.15, 0.18, 0.2, 0.18, 0.15)
        return depth - nose * half_width

    def expression(self, smile: float = 0.0, mouth: float = 0.0, eyes: float = 0.0, brows: float = 0.0) -> np.ndarray:
        """68×2 points with the expression applied (no head motion)."""
        p = self.points.copy()
        if eyes:
            for upper, lower in _LID_PAIRS:
                # The lids meet a little below the middle: the upper lid travels further, as in a real blink.
                meet = 0.35 * p[upper] + 0.65 * p[lower]
                p[upper] += eyes * (meet - p[upper])
                p[lower] += eyes * (meet - p[lower])
        if mouth:
            drop = 0.35 * self.iod * mouth
            for index, weight in _JAW_WEIGHTS.items():
                p[index] += weight * drop * self.down
        if smile:
            for index, (side, weight) in _SMILE_WEIGHTS.items():
                p[index] += smile * weight * self.iod * (0.15 * side * self.across - 0.1 * self.down)
        if brows:
            p[17:27] -= brows * BROW_RAISE * self.iod * self.down
        return p

    def rotate(self, points: np.ndarray, yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
        """Turns 68×2 points (radians) about the face centre: yaw about the face's vertical, pitch about
        its horizontal, then roll in the image plane; projected orthographically."""
        # Rotate in the face's own axes (across the eyes, down the face, depth) so tilted portraits turn
        # about their own vertical; then drop depth (orthographic projection).
        rel = points - self.centre[:2]
        u = rel @ self.across
        v = rel @ self.down
        z = self.depth - self.centre[2]
        cy, sy = math.cos(yaw), math.sin(yaw)
        cp, sp = math.cos(pitch), math.sin(pitch)
        u, z = u * cy + z * sy, -u * sy + z * cy
        v = v * cp - z * sp
        if roll:
            cr, sr = math.cos(roll), math.sin(roll)
            u, v = u * cr - v * sr, u * sr + v * cr
        return self.centre[:2] + np.outer(u, self.across) + np.outer(v, self.down)

    def pose(
        self,
        yaw: float = 0.0,
        pitch: float = 0.0,
        roll: float = 0.0,
        smile: float = 0.0,
        mouth: float = 0.0,
        eyes: float = 0.0,
        brows: float = 0.0,
    ) -> np.ndarray:
        """68×2 float64 points: the expression, then the head turned by yaw/pitch/roll (degrees)."""
        points = self.expression(smile, mouth, eyes, brows)
        if not (yaw or pitch or roll):
            return points
        return self.rotate(points, math.radians(yaw), math.radians(pitch), math.radians(roll))


class ScriptedPerformance:
    """A looping sequence of FaceLandmarks animating `base` (points in base's image pixels), fps frames/s."""

    def __init__(self, base: FaceLandmarks, fps: float = 25.0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.base = base
        self.fps = fps
        self._frames = max(1, round(LOOP_SECONDS * fps))
        self._rig = FaceRig(base)

    def __len__(self) -> int:
        return self._frames

    def frame(self, i: int) -> FaceLandmarks:
        """Landmarks of frame i (taken modulo the loop length)."""
        t = (i % self._frames) / self.fps
        points = self._rig.expression(
            smile=pulse(t, *_SMILE),
            mouth=pulse(t, *_MOUTH_OPEN),
            eyes=max(pulse(t, *b) for b in _BLINKS),
        )
        yaw = math.radians(MAX_YAW_DEG) * math.sin(2 * math.pi * t / LOOP_SECONDS)
        pitch = math.radians(MAX_PITCH_DEG) * math.sin(4 * math.pi * t / LOOP_SECONDS)
        points = self._rig.rotate(points, yaw, pitch)
        return FaceLandmarks(points68=points.astype(np.float32), image_size=self.base.image_size, mesh=None)
