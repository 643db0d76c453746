"""How an output's eyes follow its driver's: gaze and blinks, read the same way on both by two trackers.

Per frame and eye, from the 68 points and the iris centres: gaze = the iris's offset from the eye's centre along
the eye, over the eye's width; lid ratio = the lid gap (the mean of the two facing lid pairs) over the eye's
width; both eyes averaged. The trackers:
  mediapipe  the refined mesh in video mode (its iris centres and the 68 points mapped from the mesh);
  dlib       68 points (face_recognition_models' predictor); the iris is the centroid of the darkest fifth of
             the grey pixels inside each eye's lid polygon.
Per pair of driver and output sequences (eye_follow): gaze r, over every frame and over the frames where
neither side's lids read closed (a shut eye has no gaze: what a tracker reads there is the drawn lid's); the
output's gaze range (standard deviation) over the driver's; eye-openness r; and at the driver's closed frames
(lid ratio at most CLOSED of its median) the lid ratio over each side's own median, driver and output.
A driver whose gaze hardly moves (STILL_GAZE) has no gaze r or range: they would correlate tracker noise.
Likewise a driver who does not blink (fewer than BLINK_FRAMES closed frames) has no eye-openness r: on the
held-out clip whose driver looks around without a blink it read −0.14 to 0.46 against outputs whose lids shut
with every blink of another driver (the wobble of open lids, correlated).

Images are H×W×3 uint8 RGB; points 68×2 float (x, y) pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from liveavatar.training.expression import pearson

CLOSED = 0.5  # a driver frame whose lid ratio is at most this share of its median is a closed frame
# The driver's gaze standard deviation (eye widths) under which its gaze is still: the held-out clips whose
# gaze moves spread 0.09-0.14, the blinking clip (which looks ahead) 0.013.
STILL_GAZE = 0.03
# Closed frames a driver needs for its eye-openness to count as blinking: one lone frame is as often a tracker's
# slip (at every second frame, a blink is closed on 2–3).
BLINK_FRAMES = 2
CORNERS = ((36, 39), (42, 45))
LIDS = (((37, 41), (38, 40)), ((43, 47), (44, 46)))
Reading = tuple[float, float]  # (gaze along the eye in eye widths, lid ratio), both eyes' mean


def eye_reading(points: np.ndarray, irises: np.ndarray | None) -> Reading:
    """68×2 points and 2×2 iris centres (subject's right first; or None: gaze NaN) → (gaze, lid ratio)."""
    p = np.asarray(points, np.float64)
    gazes, ratios = [], []
    for e, (a, b) in enumerate(CORNERS):
        along = p[b] - p[a]
        width = max(float(np.hypot(*along)), 1e-6)
        gap = np.mean([np.linalg.norm(p[lower] - p[upper]) for upper, lower in LIDS[e]])
        ratios.append(gap / width)
        if irises is not None:
            gazes.append(float((np.asarray(irises[e], np.float64) - (p[a] + p[b]) / 2) @ (along / width)) / width)
    return (float(np.mean(gazes)) if gazes else float("nan")), float(np.mean(ratios))


def darkest_irises(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """2×2: per eye, the centroid of the darkest fifth of the grey pixels inside its lid polygon (dlib's 68
    points have no iris; the eye's centre where the polygon holds under 3 pixels)."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    out = []
    for eye in (range(36, 42), range(42, 48)):
        polygon = np.asarray(points, np.float64)[list(eye)]
        mask = np.zeros(grey.shape, np.uint8)
        cv2.fillPoly(mask, [polygon.astype(np.int32)], (1,))
        ys, xs = np.nonzero(mask)
        if len(xs) < 3:
            out.append(polygon.mean(0))
            continue
        values = grey[ys, xs]
        dark = values <= np.percentile(values, 20)
        out.append(np.array([xs[dark].mean(), ys[dark].mean()]))
    return np.array(out)


class MeshEyes:
    """mediapipe's refined mesh over one sequence of frames (video mode): each frame's Reading, or None."""

    def __init__(self) -> None:
        from liveavatar.landmarks.tracker import FaceTracker

        self._tracker = FaceTracker("video", max_faces=1, irises=True)

    def __call__(self, image: np.ndarray) -> Reading | None:
        found = self._tracker.track(np.ascontiguousarray(image)).landmarks
        if found is None or found.irises is None:
            return None
        return eye_reading(found.points68, found.irises[:, :2])

    def close(self) -> None:
        self._tracker.close()


def dlib_reading(image: np.ndarray, points: np.ndarray | None) -> Reading | None:
    """dlib's 68 points of `image` (or None: no face) → its Reading, the iris the darkest fifth in the lids."""
    return None if points is None else eye_reading(points, darkest_irises(image, points))


def _r(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson r over 5 frames or more (fewer, as the open frames of a blinking clip can be, say nothing)."""
    return pearson(a, b) if len(a) >= 5 else None


def eye_follow(driver: Sequence[Reading | None], output: Sequence[Reading | None]) -> dict:
    """Per-frame Readings (or None) of a driver and its output → the pair's figures (module docstring)."""
    both = [(d, o) for d, o in zip(driver, output, strict=True) if d is not None and o is not None]
    both = [(d, o) for d, o in both if np.isfinite(d + o).all()]
    if len(both) < 10:
        return {"frames": len(both)}
    d, o = np.array([b[0] for b in both]), np.array([b[1] for b in both])
    d_open, o_open = d[:, 1] / max(np.median(d[:, 1]), 1e-6), o[:, 1] / max(np.median(o[:, 1]), 1e-6)
    closed = d_open <= CLOSED
    seen = ~closed & (o_open > CLOSED)  # both eyes open
    still = bool(d[:, 0].std() < STILL_GAZE)
    out: dict = {
        "frames": len(both),
        "driver_gaze_std": float(d[:, 0].std()),
        "driver_gaze_still": still,
        "gaze_r": None if still else _r(d[:, 0], o[:, 0]),
        "gaze_r_open": None if still else _r(d[seen, 0], o[seen, 0]),
        "gaze_range": None if still else float(o[:, 0].std() / max(d[:, 0].std(), 1e-9)),
        "eyes_r": _r(d[:, 1], o[:, 1]) if closed.sum() >= BLINK_FRAMES else None,
        "closed_frames": int(closed.sum()),
    }
    if closed.any():
        out["driver_closed_ratio"] = float(d_open[closed].mean())
        out["output_closed_ratio"] = float(o_open[closed].mean())
    return out
