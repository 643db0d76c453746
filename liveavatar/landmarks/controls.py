"""Expression controls: how much of each part of the driver's motion reaches the portrait.

Six gains, each in [0, 2] with 1 the default (0 freezes the part at the portrait's rest, 2 doubles its
motion), and a region mode that switches whole groups off. The retargeting stage reads one frozen
ExpressionControls per frame, so swapping the object (Runner.set_expression, the app's panel) takes
effect on the next frame and can never be seen half-changed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from liveavatar.errors import InputError

Region = Literal["everything", "expression", "pose", "eyes", "lips"]
REGIONS: tuple[Region, ...] = ("everything", "expression", "pose", "eyes", "lips")
REGION_HELP = {
    "everything": "head pose and every expression",
    "expression": "expressions only; the head stays still",
    "pose": "head pose only; the expression stays neutral",
    "eyes": "eyes and gaze only",
    "lips": "mouth and jaw only",
}
GAINS: tuple[str, ...] = ("rotation", "position", "brows", "eyes", "gaze", "mouth")
GAIN_LABELS = {
    "rotation": "head rotation",
    "position": "head position",
    "brows": "brows",
    "eyes": "eyes (blinks)",
    "gaze": "gaze",
    "mouth": "mouth",
}
GAIN_MIN, GAIN_MAX = 0.0, 2.0
# Which gains each region lets through (the others count as 0).
_REGION_GAINS: dict[str, frozenset[str]] = {
    "everything": frozenset(GAINS),
    "expression": frozenset({"brows", "eyes", "gaze", "mouth"}),
    "pose": frozenset({"rotation", "position"}),
    "eyes": frozenset({"eyes", "gaze"}),
    "lips": frozenset({"mouth"}),
}


@dataclass(frozen=True)
class ExpressionControls:
    """Per-part gains in [0, 2] (1: the driver's motion as measured) and the region mode."""

    rotation: float = 1.0
    position: float = 1.0
    brows: float = 1.0
    eyes: float = 1.0
    gaze: float = 1.0
    mouth: float = 1.0
    region: Region = "everything"

    def __post_init__(self) -> None:
        for name in GAINS:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or not GAIN_MIN <= value <= GAIN_MAX:
                raise InputError(
                    f"{GAIN_LABELS[name]} gain {value!r} is out of range; use a number from {GAIN_MIN:g} to "
                    f"{GAIN_MAX:g} (1 is the driver's motion as is)"
                )
        if self.region not in REGIONS:
            raise InputError(f"region {self.region!r} is unknown; choose one of {', '.join(REGIONS)}")

    def effective(self) -> dict[str, float]:
        """The gains after the region mode: a part the region leaves out gets 0."""
        allowed = _REGION_GAINS[self.region]
        return {name: float(getattr(self, name)) if name in allowed else 0.0 for name in GAINS}

    @property
    def is_default(self) -> bool:
        return self == ExpressionControls()

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExpressionControls:
        """From a stored dict (settings); unknown keys are ignored, bad values raise InputError."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}  # gains' numbers and the region's name; __post_init__ checks each
        for key, value in data.items():
            if key not in known:
                continue
            values[key] = str(value) if key == "region" else _number(value, key)
        return replace(cls(), **values)


def _number(value: object, name: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{name} gain {value!r} is not a number; use one from 0 to 2") from None
