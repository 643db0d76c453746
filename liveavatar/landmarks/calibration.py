"""Checks on the neutral reference: does the driver's calibrated face look neutral next to the portrait?

Relative retargeting transfers everything *relative to* the neutral, so a neutral captured while the
driver smiled makes every later rest look like a frown on the portrait, and one captured turned away
makes every frontal look a turn. These checks compare simple, pose-free ratios (in eye distances) of the
driver's neutral with the portrait's rest face and say what looks wrong, in words a user can act on.
A neutral captured with the mouth open is no longer wrong for the whole session: the retargeter's
adaptive mouth rest takes the driver's first closed mouth as the opening's zero, so the user is only
told why the avatar's mouth stays shut until then (unless that adaptive rest is turned off).
"""

from __future__ import annotations

import math

import numpy as np

# Thresholds, in eye distances (IOD) unless said otherwise; chosen on the shared clips' first frames
# (a calm face measured mouth width 0.85-1.05 IOD, inner-lip gap under 0.06 IOD, yaw under 8°).
SMILE_RATIO = 1.2  # driver's mouth this much wider than the portrait's, relative to the eyes
OPEN_MOUTH = 0.15  # inner-lip gap
TURNED_DEG = 15.0


def _iod(p: np.ndarray) -> float:
    return max(float(np.linalg.norm(p[36:42, :2].mean(0) - p[42:48, :2].mean(0))), 1e-6)


def mouth_width(p: np.ndarray) -> float:
    """Mouth corner to corner over the eye distance."""
    return float(np.linalg.norm(p[54, :2] - p[48, :2])) / _iod(p)


def mouth_gap(p: np.ndarray) -> float:
    """Inner lips' opening (mean of three upper/lower pairs) over the eye distance."""
    pairs = ((61, 67), (62, 66), (63, 65))
    return float(np.mean([np.linalg.norm(p[b, :2] - p[a, :2]) for a, b in pairs])) / _iod(p)


def yaw_degrees(points3: np.ndarray) -> float | None:
    """The head's turn from the eye line's depth (68×3 with the mesh's z), or None without depth."""
    if not np.any(points3[:, 2]):
        return None
    d = points3[45] - points3[36]
    return math.degrees(math.atan2(float(d[2]), float(np.hypot(d[0], d[1]))))


def mouth_was_open(neutral: np.ndarray, portrait: np.ndarray) -> bool:
    """The neutral's inner lips well apart, and wider apart than the portrait's at rest."""
    return mouth_gap(neutral) > max(OPEN_MOUTH, mouth_gap(portrait) + 0.1)


def neutral_problems(neutral: np.ndarray, portrait: np.ndarray, mouth_rest: bool = True) -> list[str]:
    """neutral: the driver's 68×3 neutral points; portrait: its 68×2 rest landmarks. → what looks wrong.
    mouth_rest: whether the retargeter adapts the mouth's rest (Retargeter's mouth_rest); an open mouth is
    a problem only when it does not."""
    problems = []
    if mouth_width(neutral) > SMILE_RATIO * mouth_width(portrait):
        problems.append("you were smiling")
    if not mouth_rest and mouth_was_open(neutral, portrait):
        problems.append("your mouth was open")
    yaw = yaw_degrees(neutral)
    if yaw is not None and abs(yaw) > TURNED_DEG:
        problems.append(f"your head was turned {abs(yaw):.0f}° away")
    return problems


def neutral_warning(neutral: np.ndarray, portrait: np.ndarray, mouth_rest: bool = True) -> str:
    """One line for the user, or "" when the neutral looks fine (mouth_rest as in neutral_problems)."""
    problems = neutral_problems(neutral, portrait, mouth_rest)
    if not problems:
        return ""
    return (
        f"the neutral pose looks wrong ({' and '.join(problems)} when it was captured): the avatar will "
        "look off at rest; face the camera with a relaxed face and press Calibrate"
    )
