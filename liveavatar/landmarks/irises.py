"""The irises as two more control points of the warp's thin-plate spline, so gaze moves the portrait's pixels.

The spline of the `warp` presets is pinned at the 68 landmarks, which include each eye's corners and lids:
a 69th and 70th point at the iris centres (subject's right eye first, as points 36-41) slide the iris
inside an opening whose outline stays where the lids put it. Numpy only (avatars are built and the live
path runs without PyTorch).

Portrait side (once per avatar): the iris centres from mediapipe's refined mesh, in crop pixels, 2×2
float32, a row NaN where no iris was found (a statue's blank eye). A missing iris is replaced in the
spline by its eye's centre (the mean of its six points), driven with the eye's centre: that point then
only follows the lids, and the eye does not look anywhere.

Driven side (per frame): the driven iris (liveavatar.landmarks.retarget, the portrait's iris plus the
driver's gaze offset on the portrait's eye), or without one the portrait's iris carried by its eye's
motion; either way clamped inside the driven opening: along the eye within IRIS_TRAVEL eye widths of its
centre, across it between the upper and lower lids' lines, so a closing lid takes the iris with it and a
closed eye holds it on the line where the lids meet.
"""

from __future__ import annotations

import numpy as np

from liveavatar.types import SPLINE_POINTS

EYE_POINTS = (np.arange(36, 42), np.arange(42, 48))  # each eye: outer corner, 2 upper lid, inner corner, 2 lower
EYE_CORNERS = ((36, 39), (42, 45))
UPPER_LIDS = ((37, 38), (43, 44))
LOWER_LIDS = ((41, 40), (47, 46))
# How far (eye widths) the iris centre may go from the eye's centre along it: a human iris is ~0.35-0.4 of the
# eye's width, so its centre stops ~0.3 from the centre when its edge meets a corner; 0.25 leaves a margin for
# the tracker's corners.
IRIS_TRAVEL = 0.25

assert SPLINE_POINTS == 68 + 2


def eye_centres(points: np.ndarray) -> np.ndarray:
    """68×2 landmarks → 2×2 float32, each eye's centre (mean of its six points), subject's right first."""
    p = np.asarray(points, np.float32)
    return np.stack([p[idx].mean(0) for idx in EYE_POINTS])


def found(irises: np.ndarray | None) -> np.ndarray:
    """Per eye, whether the avatar has that iris (2 bools); none for None."""
    if irises is None:
        return np.zeros(2, bool)
    return np.isfinite(np.asarray(irises, np.float32)).all(axis=1)


def spline_source(landmarks: np.ndarray, irises: np.ndarray | None) -> np.ndarray:
    """The portrait's control points: 68 landmarks and 2 iris centres (its eye's centre where not found),
    70×2 float32 crop pixels."""
    centres = eye_centres(landmarks)
    if irises is not None:
        centres = np.where(found(irises)[:, None], np.asarray(irises, np.float32), centres)
    return np.concatenate([np.asarray(landmarks, np.float32), centres]).astype(np.float32)


def eye_frame(points: np.ndarray, eye: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float, float]:
    """Eye `eye` of 68×2 points: (centre, unit axis along it, unit axis across it, width, and the upper
    and lower lids' offsets across it from the centre: the mean of each lid's two points)."""
    p = np.asarray(points, np.float64)
    a, b = EYE_CORNERS[eye]
    along = p[b] - p[a]
    width = max(float(np.hypot(*along)), 1e-6)
    ax = along / width
    ay = np.array([-ax[1], ax[0]])
    centre = p[EYE_POINTS[eye]].mean(0)
    upper = float(np.mean([(p[i] - centre) @ ay for i in UPPER_LIDS[eye]]))
    lower = float(np.mean([(p[i] - centre) @ ay for i in LOWER_LIDS[eye]]))
    return centre, ax, ay, width, upper, lower


def clamp_in_opening(
    iris: np.ndarray, points: np.ndarray, eye: int, rest_iris: np.ndarray, rest_points: np.ndarray
) -> np.ndarray:
    """One iris centre (2, pixels) kept inside eye `eye`'s opening in `points` (68×2, same pixels): along
    the eye within IRIS_TRAVEL eye widths of its centre, across it between the lids' lines. Each range also
    takes in where the portrait's own iris (rest_iris in rest_points) sits, across scaled by how open the
    eye is now: a portrait at rest is never moved, and a closed eye holds its iris where the lids meet."""
    centre, ax, ay, width, upper, lower = eye_frame(points, eye)
    r_centre, r_ax, r_ay, r_width, r_upper, r_lower = eye_frame(rest_points, eye)
    rest = np.asarray(rest_iris, np.float64) - r_centre
    u0 = float(rest @ r_ax) / r_width * width
    openness = abs(lower - upper) / max(abs(r_lower - r_upper), 1e-6)
    v0 = float(rest @ r_ay) / r_width * width * min(openness, 1.0)
    d = np.asarray(iris, np.float64) - centre
    travel = IRIS_TRAVEL * width
    u = float(np.clip(d @ ax, min(-travel, u0), max(travel, u0)))
    v = float(np.clip(d @ ay, min(upper, lower, v0), max(upper, lower, v0)))
    return centre + u * ax + v * ay


def spline_driven(
    driven: np.ndarray, driven_irises: np.ndarray | None, landmarks: np.ndarray, irises: np.ndarray | None
) -> np.ndarray:
    """Driven control points, 70×2 float32 crop pixels: the driven 68 landmarks and the two iris centres.

    driven_irises: the retargeted irises (2×2, liveavatar.landmarks.retarget) or None when gaze is not
    tracked; landmarks and irises: the avatar's (spline_source's inputs). An iris the avatar lacks follows
    its eye's centre; a tracked gaze moves the irises the avatar has; without one they move with their eye."""
    d = np.asarray(driven, np.float32)
    have = found(irises)
    centres_now, centres_rest = eye_centres(d), eye_centres(landmarks)
    out = np.empty((2, 2), np.float64)
    for e in range(2):
        if not have[e]:
            out[e] = centres_now[e]
            continue
        if driven_irises is not None and np.isfinite(driven_irises[e]).all():
            iris = np.asarray(driven_irises[e], np.float64)
        else:
            iris = np.asarray(irises, np.float64)[e] + (centres_now[e] - centres_rest[e])
        out[e] = clamp_in_opening(iris, d, e, np.asarray(irises, np.float64)[e], landmarks)
    return np.concatenate([d, out.astype(np.float32)])


def with_eye_centres(points: np.ndarray) -> np.ndarray:
    """…×68×2 landmarks → …×70×2 control points whose irises are their eyes' centres (an avatar without
    irises, driven without gaze: what benches, exports and parity checks drive the frame graph with)."""
    p = np.asarray(points, np.float32)
    centres = np.stack([p[..., idx, :].mean(-2) for idx in EYE_POINTS], axis=-2)
    return np.concatenate([p, centres], axis=-2).astype(np.float32)
