"""Putting a generated face back: into the original frame (paste-back), or onto a solid/chroma background."""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from liveavatar.render.align import CropTransform

# A superellipse |u|^p + |v|^p = 1 between a circle (p=2) and the square (p→∞): it covers the crop's hair and
# shoulders better than an inscribed ellipse while its rounded corners hide the crop's square outline.
_MASK_EXPONENT = 4.0


@lru_cache(maxsize=16)
def crop_mask(size: int, feather: float) -> np.ndarray:
    """A size×size uint8 alpha mask (255 inside): a rounded square whose edge fades to 0 at the crop edge.

    feather: width of the fade as a fraction of the crop size (0 gives a hard edge). Read-only (cached).
    """
    centre = (size - 1) / 2
    u = (np.arange(size, dtype=np.float64) - centre) / (size / 2)
    mask = np.rint(rounded_square_fade(u[None, :], u[:, None], feather) * 255).astype(np.uint8)
    mask.setflags(write=False)
    return mask


def rounded_square_fade(u: np.ndarray, v: np.ndarray, feather: float) -> np.ndarray:
    """1 inside the rounded square (the superellipse of _MASK_EXPONENT) fading smoothly to 0 at its edge, at
    normalised crop coordinates u, v (−1 … 1 across the crop, broadcast together); float64 in [0, 1].

    feather: width of the fade as a fraction of the crop size (0 gives a hard edge)."""
    if not 0.0 <= feather <= 0.5:
        raise ValueError(f"feather must be within [0, 0.5], got {feather}")
    radius = (np.abs(u) ** _MASK_EXPONENT + np.abs(v) ** _MASK_EXPONENT) ** (1 / _MASK_EXPONENT)
    if feather == 0:
        return (radius <= 1.0).astype(np.float64)
    # Normalised coordinates span 2 units per crop size, so the fade is 2·feather units wide.
    t = np.clip((1.0 - radius) / (2 * feather), 0.0, 1.0)
    return t * t * (3 - 2 * t)  # smoothstep: no visible seam where the fade starts


def blend(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """base·(1-α) + top·α for uint8 H×W×3 images and an H×W uint8 alpha (255 = top)."""
    a = alpha.astype(np.uint16)[..., None]
    mixed = top.astype(np.uint16) * a + base.astype(np.uint16) * (255 - a) + 127
    return (mixed // 255).astype(np.uint8)


def paste_back(frame_rgb: np.ndarray, face_rgb: np.ndarray, crop: CropTransform, feather: float = 0.1) -> np.ndarray:
    """Warps a generated face back into the frame it was cropped from.

    frame_rgb: H×W×3 uint8 RGB. face_rgb: crop.size×crop.size×3 uint8 RGB, the generator's output for the
    crop `crop` of that frame. Returns a new H×W×3 uint8 RGB frame; outside the crop's footprint it is the
    frame unchanged, inside the face fades in through a feathered rounded-square mask (see crop_mask).
    """
    if face_rgb.shape != (crop.size, crop.size, 3):
        raise ValueError(f"face must be {crop.size}×{crop.size}×3 for this crop, got {face_rgb.shape}")
    out = frame_rgb.copy()
    height, width = frame_rgb.shape[:2]
    x0, y0, x1, y1 = crop.frame_bounds(width, height, pad=2)
    if x1 <= x0 or y1 <= y0:
        return out  # the crop lies wholly outside the frame
    # Warp only the footprint's region, not the whole frame: the crop to region map is the inverse
    # shifted by the region's origin.
    to_region = crop.inverse.copy()
    to_region[:, 2] -= (x0, y0)
    rgba = np.dstack([face_rgb, crop_mask(crop.size, feather)])
    warped = cv2.warpAffine(
        rgba,
        to_region,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    region = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = blend(region, warped[..., :3], warped[..., 3])
    return out


def place_on_background(
    face_rgb: np.ndarray, out_w: int, out_h: int, colour_rgb: tuple[int, int, int], feather: float = 0.0
) -> np.ndarray:
    """The face crop (S×S×3 uint8 RGB) centred on an out_h×out_w×3 uint8 RGB canvas of one colour.

    The face is scaled to the canvas height (or its width, if narrower). feather > 0 fades its edge into the
    colour through the same rounded-square mask as paste_back; 0 pastes the square as is (clean chroma edges).
    """
    if out_w < 1 or out_h < 1:
        raise ValueError(f"output size must be positive, got {out_w}×{out_h}")
    canvas = np.empty((out_h, out_w, 3), np.uint8)
    canvas[:] = np.asarray(colour_rgb, np.uint8)
    side = min(out_w, out_h)
    interpolation = cv2.INTER_AREA if side < face_rgb.shape[0] else cv2.INTER_LINEAR
    face = cv2.resize(face_rgb, (side, side), interpolation=interpolation)
    x0 = (out_w - side) // 2
    y0 = (out_h - side) // 2
    region = canvas[y0 : y0 + side, x0 : x0 + side]
    if feather > 0:
        region[:] = blend(region, face, crop_mask(side, feather))
    else:
        region[:] = face
    return canvas
