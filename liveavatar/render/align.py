"""The face crop: a square, upright box from the 68 landmarks, and the affine maps into and out of it.

Training data preparation, avatars and the live path all crop with face_crop, so a model sees faces framed
the same way everywhere. Framing: the box side is (1 + 2·margin) × the larger side of the landmarks' bounding
box (brows to chin, ear to ear); with the default margin 0.45 that is 1.9×, about the scale of VoxCeleb2's
224 px crops (1.73-1.97× measured on the VoxCeleb clips in shared/data). Unlike VoxCeleb, which centres low
and often cuts the crown, the box centre sits `raise_centre` (0.15) × that extent above the landmarks'
centre, so the whole head with some hair and the chin are in, and little of the neck.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_MARGIN = 0.45
DEFAULT_RAISE_CENTRE = 0.15


@dataclass(frozen=True)
class CropBox:
    """A square in frame pixels: centre (cx, cy) and side length."""

    cx: float
    cy: float
    side: float


@dataclass(frozen=True)
class CropTransform:
    """Maps between a frame and its size×size face crop.

    matrix: 2×3 float64 affine, frame (x, y) → crop (x, y). inverse: 2×3 float64, crop → frame.
    Pixel centres are at integer coordinates in both, as cv2.warpAffine assumes.
    """

    matrix: np.ndarray
    inverse: np.ndarray
    size: int
    box: CropBox

    def warp(self, image_rgb: np.ndarray) -> np.ndarray:
        """The crop of an H×W×3 uint8 RGB frame: size×size×3 uint8 RGB.

        Where the box leaves the frame, the frame's edge pixels are replicated (BORDER_REPLICATE): black
        bars would be learnt by the generator as part of a face's surroundings. Strong downscaling (large
        photos) first halves the frame region with a Gaussian pyramid so the crop does not alias.
        """
        matrix = self.matrix
        scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
        source = image_rgb
        if scale < 0.5:
            # Work on the box's region only, so a 3511 px photo is not filtered whole.
            x0, y0, x1, y1 = self.frame_bounds(image_rgb.shape[1], image_rgb.shape[0], pad=4)
            if x1 > x0 and y1 > y0:
                source = image_rgb[y0:y1, x0:x1]
                matrix = matrix.copy()
                matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)
        return warp_reduced(source, matrix, self.size, self.size)

    def frame_bounds(self, width: int, height: int, pad: int) -> tuple[int, int, int, int]:
        """Integer bounds (x0, y0, x1, y1) of the crop's footprint in the frame, padded and clipped."""
        corners = self.points_to_frame(np.array([[0, 0], [self.size, 0], [0, self.size], [self.size] * 2]))
        lo = np.floor(corners.min(0)).astype(int) - pad
        hi = np.ceil(corners.max(0)).astype(int) + pad
        return max(0, lo[0]), max(0, lo[1]), min(width, hi[0]), min(height, hi[1])

    def points_to_crop(self, points: np.ndarray) -> np.ndarray:
        """N×2 frame (x, y) → N×2 float32 crop (x, y)."""
        return apply_affine(self.matrix, points)

    def points_to_frame(self, points: np.ndarray) -> np.ndarray:
        """N×2 crop (x, y) → N×2 float32 frame (x, y)."""
        return apply_affine(self.inverse, points)


def warp_reduced(image: np.ndarray, affine: np.ndarray, width: int, height: int) -> np.ndarray:
    """An H×W×3 uint8 RGB image under a 2×3 affine (image → output pixels) into width×height, its edge
    pixels repeated past its border. Strong reductions (scale under 1/2) go through a Gaussian pyramid
    first, so a large image shown small does not alias."""
    affine = np.asarray(affine, np.float64)
    scale = float(np.hypot(affine[0, 0], affine[1, 0]))
    while scale < 0.5 and min(image.shape[:2]) >= 4:
        image = cv2.pyrDown(image)  # pyrDown's pixel i is centred on the source's pixel 2i
        affine = affine.copy()
        affine[:, :2] *= 2.0
        scale *= 2.0
    return cv2.warpAffine(image, affine, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """N×2 points (x, y) under a 2×3 affine → N×2 float32."""
    pts = np.asarray(points, np.float64)
    return (pts @ affine[:, :2].T + affine[:, 2]).astype(np.float32)


def face_box(
    points68: np.ndarray, margin: float = DEFAULT_MARGIN, raise_centre: float = DEFAULT_RAISE_CENTRE
) -> CropBox:
    """The square face box (frame pixels) for 68×2 landmarks; see the module docstring for the framing."""
    if points68.shape != (68, 2) or not np.isfinite(points68).all():
        raise ValueError(f"expected 68×2 finite landmark points, got shape {points68.shape}")
    lo = points68.min(axis=0).astype(np.float64)
    hi = points68.max(axis=0).astype(np.float64)
    extent = max(float((hi - lo).max()), 1.0)
    centre = (lo + hi) / 2
    return CropBox(float(centre[0]), float(centre[1] - raise_centre * extent), extent * (1 + 2 * margin))


def crop_from_box(box: CropBox, output_size: int) -> CropTransform:
    """The transform that maps `box` onto an output_size×output_size crop."""
    if output_size < 1 or box.side <= 0:
        raise ValueError(f"need output_size >= 1 and a positive box side, got {output_size} and {box.side}")
    scale = output_size / box.side
    # The box's edges map to the crop's outer pixel edges (-0.5 and size - 0.5 in pixel-centre coordinates).
    x0 = box.cx - box.side / 2
    y0 = box.cy - box.side / 2
    matrix = np.array([[scale, 0.0, -scale * x0 - 0.5], [0.0, scale, -scale * y0 - 0.5]])
    inverse = cv2.invertAffineTransform(matrix).astype(np.float64)
    return CropTransform(matrix=matrix, inverse=inverse, size=output_size, box=box)


def face_crop(
    points68: np.ndarray,
    output_size: int,
    margin: float = DEFAULT_MARGIN,
    raise_centre: float = DEFAULT_RAISE_CENTRE,
) -> CropTransform:
    """The square, upright face crop for 68×2 frame landmarks, output_size pixels wide."""
    return crop_from_box(face_box(points68, margin, raise_centre), output_size)


class CropBoxSmoother:
    """Exponential smoothing of a video's crop box, so the crop does not jitter with the landmarks.

    alpha: weight of the newest box (1 = no smoothing). A jump larger than `reset_fraction` of the box side
    (a cut, another face) is taken at once rather than glided to.
    """

    def __init__(self, alpha: float = 0.2, reset_fraction: float = 0.5) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.reset_fraction = reset_fraction
        self._box: CropBox | None = None

    def update(self, box: CropBox) -> CropBox:
        prev = self._box
        if prev is None or np.hypot(box.cx - prev.cx, box.cy - prev.cy) > self.reset_fraction * prev.side:
            self._box = box
        else:
            a = self.alpha
            self._box = CropBox(
                prev.cx + a * (box.cx - prev.cx),
                prev.cy + a * (box.cy - prev.cy),
                prev.side + a * (box.side - prev.side),
            )
        return self._box

    def reset(self) -> None:
        self._box = None
