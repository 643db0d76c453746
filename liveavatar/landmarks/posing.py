"""Hand-set poses: head angles and expressions as numbers, validated, parsed from `key=value` lists.

Used by `liveavatar pose` and the app's edit mode; the geometry is FaceRig's (the scripted performance's).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from liveavatar.errors import InputError
from liveavatar.landmarks.scripted import FaceRig
from liveavatar.types import FaceLandmarks

MAX_ANGLE = 45.0  # degrees; beyond this the portrait's far side (never seen) would have to be invented
# name → (low, high, meaning)
RANGES: dict[str, tuple[float, float, str]] = {
    "yaw": (-MAX_ANGLE, MAX_ANGLE, "degrees, positive turns towards the image's left"),
    "pitch": (-MAX_ANGLE, MAX_ANGLE, "degrees, positive nods down"),
    "roll": (-MAX_ANGLE, MAX_ANGLE, "degrees, positive tilts clockwise"),
    "smile": (0.0, 1.0, "0 none, 1 broad"),
    "mouth": (0.0, 1.0, "0 closed as in the portrait, 1 wide open"),
    "eyes": (0.0, 1.0, "0 as in the portrait, 1 closed"),
    "brows": (-1.0, 1.0, "-1 lowered, 1 raised"),
    "gaze_x": (-1.0, 1.0, "-1 looks to the image's left, 1 to its right (as far as the eye allows)"),
    "gaze_y": (-1.0, 1.0, "-1 looks up, 1 down"),
}
# The iris's travel at gaze ±1, in eye widths from where the portrait's own iris is (along the eye, across it);
# the warp then keeps it inside the opening (liveavatar.landmarks.irises).
GAZE_TRAVEL = (0.25, 0.15)
RIG_SETTINGS = ("yaw", "pitch", "roll", "smile", "mouth", "eyes", "brows")  # what FaceRig.pose takes


@dataclass(frozen=True)
class PoseSettings:
    """A hand-set pose; all zeros is the portrait as it is."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    smile: float = 0.0
    mouth: float = 0.0
    eyes: float = 0.0
    brows: float = 0.0
    gaze_x: float = 0.0
    gaze_y: float = 0.0

    def __post_init__(self) -> None:
        for name, (low, high, meaning) in RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or not low <= value <= high:
                raise InputError(f"{name} {value!r} is out of range; use {low:g} to {high:g} ({meaning})")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def blend(self, other: PoseSettings, a: float) -> PoseSettings:
        """(1 - a)·self + a·other, for sweeps."""
        return PoseSettings(
            **{f.name: (1 - a) * getattr(self, f.name) + a * getattr(other, f.name) for f in fields(self)}
        )


def parse_pose(text: str) -> PoseSettings:
    """`yaw=15,smile=0.6` (commas or spaces) → PoseSettings; unnamed settings stay 0."""
    values: dict[str, float] = {}
    for item in text.replace(",", " ").split():
        key, sep, value = item.partition("=")
        if not sep or key not in RANGES:
            raise InputError(f"pose setting {item!r}: write NAME=VALUE with NAME one of {', '.join(RANGES)}")
        try:
            values[key] = float(value)
        except ValueError:
            raise InputError(f"pose setting {item!r}: {value!r} is not a number") from None
    return replace(PoseSettings(), **values)


def pose_points(landmarks: np.ndarray, settings: PoseSettings, image_size: int) -> np.ndarray:
    """The portrait's 68×2 landmarks (crop pixels) posed by `settings` → 68×2 float32 in the same pixels."""
    rig = FaceRig(FaceLandmarks(np.asarray(landmarks, np.float32), (image_size, image_size)))
    values = settings.as_dict()
    return rig.pose(**{k: values[k] for k in RIG_SETTINGS}).astype(np.float32)


def pose_irises(landmarks: np.ndarray, irises: np.ndarray | None, posed: np.ndarray, settings: PoseSettings):
    """The portrait's iris centres (2×2 crop pixels, NaN rows where it has none; or None) turned by the
    settings' gaze and carried by its eyes to the posed landmarks (68×2) → 2×2 float32, or None without
    irises. Along each eye GAZE_TRAVEL[0] eye widths at ±1, across it GAZE_TRAVEL[1]; image right and down
    positive along the eye's axes, as the retargeted gaze is."""
    if irises is None:
        return None
    from liveavatar.landmarks.irises import EYE_CORNERS, EYE_POINTS

    out = np.asarray(irises, np.float32).copy()
    for e, ((a, b), idx) in enumerate(zip(EYE_CORNERS, EYE_POINTS, strict=True)):
        along = posed[b] - posed[a]
        width = float(np.hypot(*along))
        ax = along / max(width, 1e-6)
        if ax[0] < 0:
            ax = -ax
        ay = np.array([-ax[1], ax[0]])
        moved = posed[idx].mean(0) - np.asarray(landmarks, np.float32)[idx].mean(0)
        gaze = (settings.gaze_x * GAZE_TRAVEL[0] * ax + settings.gaze_y * GAZE_TRAVEL[1] * ay) * width
        out[e] = out[e] + moved + gaze
    return out
