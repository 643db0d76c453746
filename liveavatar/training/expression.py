"""How an output follows its driver: per-frame expression and pose signals from 68 landmarks, and their r.

Signals (all from 68×2 points, so they apply to the driver's tracked points and to mediapipe re-tracked on
the output alike; each is normalised so a bigger face does not read as a bigger expression):
  mouth  inner-lip gap (61–67, 62–66, 63–65) / inter-ocular distance (outer eye corners 36, 45)
  eyes   eyelid gap (37–41, 38–40, 43–47, 44–46) / eye width (36–39, 42–45), both eyes averaged
  roll   angle of the line through the eye centres, radians
  yaw    (nose tip to left jaw end − nose tip to right jaw end) / their sum: 0 frontal, ± turning
  pitch  nose tip's distance below the eye line / chin's distance below it (in the face's rotated frame)
Yaw and pitch are monotonic proxies, not angles; Pearson r over time is unchanged by a monotonic-ish
linear rescaling, which is all "follows the driver" asks. The mouth range is compared directly (both
sides are in eye distances): the output's 5–95 % spread over the driver's.

A driver whose mouth does not open (the held-out grimace clip: 5–95 % spread 0.007 over its whole length)
has nothing to follow: r would correlate the tracker's frame-to-frame wobble on both sides, and the range
ratio would divide noise by noise. Both are left empty there (None), and the caller says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

SIGNALS = ("mouth", "eyes", "yaw", "pitch", "roll")

# The driver's 5–95 % mouth-opening spread (eye distances) below which its mouth counts as still: twice the
# ~0.02 frame-to-frame wobble mediapipe shows on a closed mouth. Held-out clips that talk spread 0.05–0.20.
STILL_MOUTH_SPREAD = 0.04


def mouth_opening(points: np.ndarray) -> np.ndarray:
    """…×68×2 → …: the "mouth" signal, inner-lip gap / inter-ocular distance (one frame or a stack)."""
    p = np.asarray(points, np.float64)
    gap = np.linalg.norm(p[..., [67, 66, 65], :] - p[..., [61, 62, 63], :], axis=-1).mean(-1)
    return gap / np.maximum(np.linalg.norm(p[..., 45, :] - p[..., 36, :], axis=-1), 1e-6)


def expression_signals(points: np.ndarray) -> dict[str, float]:
    p = np.asarray(points, np.float64)
    mouth = mouth_opening(p)
    eyes = []
    for lids, (c0, c1) in (((37, 41, 38, 40), (36, 39)), ((43, 47, 44, 46), (42, 45))):
        gap = (np.linalg.norm(p[lids[0]] - p[lids[1]]) + np.linalg.norm(p[lids[2]] - p[lids[3]])) / 2
        eyes.append(gap / max(float(np.linalg.norm(p[c1] - p[c0])), 1e-6))
    right_eye, left_eye = p[36:42].mean(0), p[42:48].mean(0)
    axis = left_eye - right_eye
    roll = math.atan2(axis[1], axis[0])
    cos, sin = math.cos(-roll), math.sin(-roll)
    rot = np.array([[cos, -sin], [sin, cos]])
    mid = (right_eye + left_eye) / 2
    nose, chin = rot @ (p[30] - mid), rot @ (p[8] - mid)
    to_left, to_right = np.linalg.norm(p[16] - p[30]), np.linalg.norm(p[0] - p[30])
    return {
        "mouth": float(mouth),
        "eyes": float(np.mean(eyes)),
        "yaw": float((to_left - to_right) / max(float(to_left + to_right), 1e-6)),
        "pitch": float(nose[1] / chin[1]) if abs(chin[1]) > 1e-6 else 0.0,
        "roll": roll,
    }


def pearson(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float | None:
    """Pearson r; None with fewer than 3 pairs or when either side does not vary (r is undefined)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def spread(values: Sequence[float]) -> float:
    """5–95 % percentile spread: the range of a signal without its outliers."""
    return float(np.percentile(values, 95) - np.percentile(values, 5))


def follow_measures(
    driver: Sequence[np.ndarray | None], output: Sequence[np.ndarray | None]
) -> dict[str, float | bool | None]:
    """r per signal over the frames where both sides have landmarks, and the output's mouth range / driver's.

    `driver_mouth_still` is True where the driver's mouth does not open (spread < STILL_MOUTH_SPREAD); r_mouth
    and mouth_range_ratio are None then, since they would measure tracker noise.
    """
    both = [(d, o) for d, o in zip(driver, output, strict=True) if d is not None and o is not None]
    pairs = [(expression_signals(d), expression_signals(o)) for d, o in both]
    result: dict[str, float | bool | None] = {}
    for s in SIGNALS:
        result[f"r_{s}"] = pearson([d[s] for d, _ in pairs], [o[s] for _, o in pairs])
    result["mouth_range_ratio"] = None
    result["driver_mouth_still"] = None
    if len(pairs) >= 3:
        driver_spread, output_spread = (spread([x[side]["mouth"] for x in pairs]) for side in (0, 1))
        still = driver_spread < STILL_MOUTH_SPREAD
        result["driver_mouth_still"] = bool(still)
        if still:
            result["r_mouth"] = None
        else:
            result["mouth_range_ratio"] = output_spread / driver_spread
    return result
