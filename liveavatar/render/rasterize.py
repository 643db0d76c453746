"""THE landmark image of the paper (one function for training data, avatars and the live path).

Each part of the 68-point layout is drawn as an anti-aliased polyline in its own colour (PARTS, RGB) on
black; eyes and lips are closed contours. Lines leaving the canvas are clipped: a part that lies wholly
outside the crop draws nothing (the generator then sees it as absent, as in training crops).
"""

from __future__ import annotations

import cv2
import numpy as np

from liveavatar.landmarks.mesh68 import PARTS

# cv2 draws with fixed-point coordinates: 4 fractional bits give 1/16-pixel precision, so slow motion
# moves lines smoothly instead of in whole-pixel steps.
_SHIFT = 4
_ONE = 1 << _SHIFT
# Keeps far-away points inside int32 after the fixed-point shift; cv2 clips the lines to the canvas anyway.
_COORD_LIMIT = 1e6

_PART_DRAWS = tuple((np.asarray(part.indices), part.closed, part.colour) for part in PARTS.values())


def line_thickness(size: int) -> int:
    """Polyline thickness in pixels for a size×size landmark image: 2 px at 256, scaled with size."""
    return max(1, round(2 * size / 256))


def _check_points(points68: np.ndarray) -> None:
    if points68.shape != (68, 2):
        raise ValueError(f"expected 68×2 landmark points, got shape {points68.shape}")
    if not np.isfinite(points68).all():
        raise ValueError("landmark points contain NaN or infinity")


def _fixed_point(points: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(points, -_COORD_LIMIT, _COORD_LIMIT) * _ONE).astype(np.int32)


def rasterize_landmarks(points68: np.ndarray, size: int) -> np.ndarray:
    """Draws the landmark image.

    points68: 68×2 float (x, y) in crop pixels (pixel centres at integer coordinates).
    Returns size×size×3 uint8 RGB: each part in its PARTS colour on black.
    """
    _check_points(points68)
    canvas = np.zeros((size, size, 3), np.uint8)
    fixed = _fixed_point(points68)
    thickness = line_thickness(size)
    for indices, closed, colour in _PART_DRAWS:
        cv2.polylines(canvas, [fixed[indices]], closed, colour, thickness, cv2.LINE_AA, _SHIFT)
    return canvas


def draw_landmarks_overlay(image_rgb: np.ndarray, points68: np.ndarray) -> np.ndarray:
    """The preview overlay: parts as thin lines plus a dot per point, over a copy of H×W×3 uint8 RGB."""
    _check_points(points68)
    out = image_rgb.copy()
    fixed = _fixed_point(points68)
    thickness = max(1, round(min(out.shape[:2]) / 400))
    for indices, closed, colour in _PART_DRAWS:
        cv2.polylines(out, [fixed[indices]], closed, colour, thickness, cv2.LINE_AA, _SHIFT)
    radius = (thickness + 1) * _ONE
    for x, y in fixed:
        cv2.circle(out, (int(x), int(y)), radius, (255, 255, 255), -1, cv2.LINE_AA, _SHIFT)
    return out
