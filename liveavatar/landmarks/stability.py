"""Head pose and expression smoothed apart: two One-Euro filters over a retargeting Motion.

Tracker noise on a still face shows mostly as head pose wobble (the whole face shifts and turns by a
fraction of a pixel), while speech needs the lips to follow within a frame or two. One filter over all
points has to choose; two can smooth the pose harder than the lips. Both work in pixels of the driver's
face so one beta means the same in each: the pose vector is the rotation vector times the face's radius
(arc length at the face's edge), the scale change times that radius, and the centroid shift; the
expression is the 68×3 residual plus, when tracked, the 2×3 iris residual.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from liveavatar.landmarks.retarget import Motion
from liveavatar.landmarks.smoothing import OneEuroFilter, OneEuroParams


class MotionSmoother:
    """Filters a stream of Motions sampled at timestamps in seconds; reset() when the face is lost."""

    def __init__(self, pose: OneEuroParams, expression: OneEuroParams) -> None:
        self._pose = OneEuroFilter(pose)
        self._expression = OneEuroFilter(expression)
        self._with_irises: bool | None = None

    def __call__(self, motion: Motion, t: float, radius: float) -> Motion:
        """The smoothed motion at time t; radius: the driver face's radius in pixels (Retargeter.face_radius)."""
        irises = motion.iris_residual
        with_irises = irises is not None
        if self._with_irises is not None and with_irises != self._with_irises:
            self._expression.reset()  # the sample's shape changes when irises come or go
        self._with_irises = with_irises
        pose = np.r_[motion.rotation * radius, (motion.scale - 1) * radius, motion.shift]
        pose = self._pose(pose, t)
        parts = [motion.residual.ravel()]
        if irises is not None:
            parts.append(irises.ravel())
        expression = self._expression(np.concatenate(parts), t)
        return replace(
            motion,
            rotation=pose[:3] / radius,
            scale=float(1 + pose[3] / radius),
            shift=pose[4:6],
            residual=expression[: 68 * 3].reshape(68, 3),
            iris_residual=expression[68 * 3 :].reshape(2, 3) if with_irises else None,
        )

    def reset(self) -> None:
        self._pose.reset()
        self._expression.reset()
