"""A shut lid's light: the shading of a real closed eye laid on the lids that lids.py draws shut.

lids.py shuts an eye with the portrait's own skin, stretched from above the lid down to its lash line. That is
the portrait's texture but not a closed eye's light: a real shut lid is lit where it bulges over the eyeball
and shadowed under its lashes, and both trackers read a shut eye by that shading. Drawn from the skin alone,
the shut lids of photos read 0.82 of their open gap by dlib at the driver's shut frames (median of 18 pairs;
the driver's own 0.45), 0.76 with this light laid (docs/EXPRESSION.md, "A shut lid's light").

A portrait holds no shut lid to take the light from; real blinks do, and a lid's light is not identity. The
asset shut_lid.npz (tools/build_shut_lid.py) holds the median high-passed log-lightness of 357 shut eyes of
talking-head clips, the eye's corners at CORNER_A and CORNER_B of an H×W canonical patch (SIZE; 63 px an
eye width), symmetric along the eye, faded out around it. As the eye shuts (over the last of its closing,
LIGHT_FROM → 1), each sample's pixel is multiplied by exp(shut · shading) read at its place
relative to the eye: along it from the first corner, across it from where the lids meet (the patch's corner
row there, so the shading follows the drawn lids' arc). The same gain in R, G and B: the portrait's colours
and grain stay, only their light changes.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from liveavatar.errors import InputError
from liveavatar.render.lids import EyeShape, eye_coordinates, lids_now, rows_near_meeting

SIZE = (128, 96)  # canonical patch (width, height)
CORNER_A = (32, 48)  # the eye's first corner (EYE_CORNERS order) …
CORNER_B = (95, 48)  # … and its second: mirror images across the patch's middle (127 − x)
BLUR = 20.0  # canonical px (0.32 eye widths): what the high-pass keeps is the lid's shading, not the face's light
ASSET = Path(__file__).resolve().parents[1] / "assets" / "shut_lid.npz"
# The light comes in over the last (1 − LIGHT_FROM) of a closing, before the lash line (lids.LASH_FROM): a real
# blink's shut frames reach the lids as closings of 0.93–1 (the expression filter and the retargeter's
# CLOSED_OPENNESS: mediapipe's lids rarely meet), where a light starting with the lash line was not yet laid.
LIGHT_FROM = 0.85


@lru_cache(maxsize=1)
def shading() -> np.ndarray:
    """The asset's log gain (SIZE[1]×SIZE[0] float32); InputError naming the file if it is missing or damaged."""
    try:
        with np.load(ASSET) as data:
            table = np.asarray(data["shading"], np.float32)
    except (OSError, KeyError, ValueError) as error:
        raise InputError(
            f"{ASSET}: the shut lid's shading is missing or damaged ({error}); reinstall liveavatar, or rebuild it "
            "with `python tools/build_shut_lid.py`"
        ) from error
    if table.shape != SIZE[::-1] or not np.isfinite(table).all():
        raise InputError(
            f"{ASSET}: shading of shape {table.shape}, not {SIZE[::-1]}; rebuild it with tools/build_shut_lid.py"
        )
    return table


@lru_cache(maxsize=1)
def _half_height() -> float:
    """How far (canonical px) the shading reaches above or below the corners' row: what its fade leaves."""
    rows = np.flatnonzero(np.abs(shading()).max(axis=1) > 1e-3)
    return float(max(CORNER_A[1] - rows[0], rows[-1] - CORNER_A[1]) + 1) if len(rows) else 0.0


def shade_shut_lid(image: np.ndarray, before: np.ndarray, shape: EyeShape, closing: float) -> None:
    """Lays a shut lid's light on one eye of `image` (h×w×3 uint8 RGB, changed in place), remapped by a map
    that was `before` (h×w×2 float32 source pixels) ahead of close_lid(…, shape, closing). Nothing changes
    until the eye is nearly shut (closing past LIGHT_FROM)."""
    shut = np.float32(np.clip((closing - LIGHT_FROM) / (1 - LIGHT_FROM), 0.0, 1.0))
    if shut <= 0:
        return
    scale = np.float32(CORNER_B[0] - CORNER_A[0])  # canonical px per eye width
    near = rows_near_meeting(before, shape, float(closing), _half_height() / float(scale) * shape.width)
    if near is None:
        return
    u, v, vu, vl, _ = eye_coordinates(before[near], shape)
    meet = lids_now(u, vu, vl, shape, float(closing))[0]
    x = CORNER_A[0] + scale * u
    y = CORNER_A[1] + (scale / np.float32(shape.width)) * (v - meet)
    gain = cv2.remap(shading(), x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)  # 0 past it
    cv2.exp(gain * shut, dst=gain)
    # into a new array: the region is a view with the frame's strides, which cv2 would not write into
    image[near] = cv2.multiply(image[near], cv2.merge((gain, gain, gain)), dtype=cv2.CV_8U)  # rounds, saturates
