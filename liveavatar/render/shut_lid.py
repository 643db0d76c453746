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

Live, the driver's own shut lid at that very frame is laid instead (driver_lid_light): their eye, taken to
the same canonical patch by its corners and high-passed as the asset's eyes were (eye_light), once their lid
gap falls under DRIVER_SHUT of their open eyes' (the neutral's). The template stays for `pose`, the scripted
demo, a driver whose eyes are too small or too dark to read, until the neutral is captured, and with the
driver's creases turned off (their shading, as the creases are).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from liveavatar.errors import InputError
from liveavatar.landmarks.irises import EYE_CORNERS
from liveavatar.render.driver_mouth import DriverFrame
from liveavatar.render.lids import EyeShape, eye_coordinates, lid_ratios, lids_now, rows_near_meeting

SIZE = (128, 96)  # canonical patch (width, height)
CORNER_A = (32, 48)  # the eye's first corner (EYE_CORNERS order) …
CORNER_B = (95, 48)  # … and its second: mirror images across the patch's middle (127 − x)
BLUR = 20.0  # canonical px (0.32 eye widths): what the high-pass keeps is the lid's shading, not the face's light
ASSET = Path(__file__).resolve().parents[1] / "assets" / "shut_lid.npz"
# The light comes in over the last (1 − LIGHT_FROM) of a closing, before the lash line (lids.LASH_FROM): a real
# blink's shut frames reach the lids as closings of 0.93–1 (the expression filter and the retargeter's
# CLOSED_OPENNESS: mediapipe's lids rarely meet), where a light starting with the lash line was not yet laid.
LIGHT_FROM = 0.85
MASK_AXES = (40, 20)  # canonical px: the ellipse around the eye the shading is laid in (±0.63, ±0.32 eye widths)
MASK_SOFT = 5.0
# The driver's own shut lid, at that very frame, is the best source of its light there is (as the driver's mouth
# is of the mouth's inside): its crease, its lashes' shadow, its lid's bulge, in the portrait's colours. It is
# laid in place of the template where the driver's eye is read shut: their lid gap under DRIVER_SHUT[1] of the
# neutral's, the template above DRIVER_SHUT[0], blended between (a half-open driver's eye shows its iris and
# white, not a lid). An eye narrower than MIN_EYE camera pixels holds no lid to read; the gain is kept within
# DRIVER_GAIN (log) of the template's own range (a glint on glasses, a dark frame's edge).
DRIVER_SHUT = (0.4, 0.2)
MIN_EYE = 16.0
DRIVER_GAIN = (-0.2, 0.1)
# A dim camera's eye is mostly its noise once its log-lightness is high-passed (a frame at 0.3 of the blinking
# clip's exposure, the eye's light 24 of 255 in OpenCV's L, laid visible grain on the lids): the template is
# laid below DRIVER_DIM[0] of the eye's light, the driver's from DRIVER_DIM[1] (the blinking clip's eyes: 97).
DRIVER_DIM = (20.0, 40.0)


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


def canonical(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The similarity (2×3) taking image points a → CORNER_A and b → CORNER_B."""
    v, d = np.asarray(b, np.float64) - a, np.subtract(CORNER_B, CORNER_A)
    s = np.hypot(*d) / max(np.hypot(*v), 1e-6)
    angle = np.arctan2(d[1], d[0]) - np.arctan2(v[1], v[0])
    m = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * s
    return np.hstack([m, (np.asarray(CORNER_A) - m @ np.asarray(a, np.float64))[:, None]]).astype(np.float32)


@lru_cache(maxsize=1)
def ellipse_mask() -> np.ndarray:
    """The soft ellipse around the canonical eye (SIZE[1]×SIZE[0] float32, 0…1) the shading is laid in."""
    mask = np.zeros(SIZE[::-1], np.float32)
    centre = ((CORNER_A[0] + CORNER_B[0]) / 2, CORNER_A[1])
    at, axes = (round(centre[0] * 16), round(centre[1] * 16)), (MASK_AXES[0] * 16, MASK_AXES[1] * 16)
    cv2.ellipse(mask, at, axes, 0, 0, 360, (1.0,), -1, cv2.LINE_AA, 4)  # 4 fractional bits: centred on 63.5
    return cv2.GaussianBlur(mask, (0, 0), MASK_SOFT)


def eye_light(rgb: np.ndarray, points: np.ndarray, eye: int) -> np.ndarray | None:
    """One eye's high-passed log-lightness in the canonical patch (SIZE[1]×SIZE[0] float32), read from an
    H×W×3 uint8 RGB frame and its 68×2 points (that frame's pixels); None where the eye is narrower than MIN_EYE."""
    patch = _log_lightness(rgb, points, eye)
    return None if patch is None else patch - _low_pass(patch)


def _log_lightness(rgb: np.ndarray, points: np.ndarray, eye: int) -> np.ndarray | None:
    """One eye's log(CIE L + 8) (OpenCV's 8-bit L) in the canonical patch (SIZE[1]×SIZE[0] float32), or None
    (eye_light)."""
    a, b = (np.asarray(points[i], np.float64) for i in EYE_CORNERS[eye])
    width = float(np.hypot(*(b - a)))
    if not width >= MIN_EYE:
        return None
    # only what the patch covers is converted (its corners lie 1.27 eye widths from the eye's middle, whatever
    # the roll), halved first while the eye is over twice the patch's scale (a near driver's: fewer pixels to
    # convert, and bilinear sampling alone would alias its lashes)
    reach = 1.3 * width + 2
    lo = np.floor((a + b) / 2 - reach).astype(int).clip(0, None)
    hi = np.ceil((a + b) / 2 + reach).astype(int) + 1
    crop = rgb[lo[1] : hi[1], lo[0] : hi[0]]
    if crop.shape[0] < 2 or crop.shape[1] < 2:
        return None
    a, b = a - lo, b - lo
    while width > 2 * (CORNER_B[0] - CORNER_A[0]) and min(crop.shape[:2]) >= 4:
        crop = cv2.pyrDown(crop)
        a, b, width = a / 2, b / 2, width / 2  # pyrDown's pixel x is centred on the source's 2x
    log_l = cv2.log(cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32) + 8.0)
    return cv2.warpAffine(log_l, canonical(a, b), SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _low_pass(patch: np.ndarray) -> np.ndarray:
    """The patch's Gaussian blur of BLUR px, taken at a quarter of its size (within 0.006 of the full blur in log
    lightness, a tenth of the time: the full one took 0.33 ms an eye, on every shut frame live)."""
    small = cv2.resize(patch, (SIZE[0] // 4, SIZE[1] // 4), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), BLUR / 4), SIZE, interpolation=cv2.INTER_LINEAR)


class DriverLids(NamedTuple):
    """The driver at this frame (its camera frame and 68 points: DriverFrame) and the lid ratios of their open
    eyes (liveavatar.render.lids.lid_ratios of the neutral's points: 2 floats, right eye first)."""

    frame: DriverFrame
    open_ratios: np.ndarray


def driver_lid_light(driver: DriverLids, eye: int) -> np.ndarray | None:
    """The shading to lay on one shut eye from the driver's own at this frame (SIZE[1]×SIZE[0] float32 log gain,
    as shading()'s), blended with the template as their eye is less than shut (DRIVER_SHUT) or their camera
    dim (DRIVER_DIM); None where the driver's eye is open, too small or too dark to read (the template is laid)."""
    now = float(lid_ratios(driver.frame.points)[eye])
    rest = float(driver.open_ratios[eye])
    if not rest > 1e-6:
        return None
    share = float(np.clip((DRIVER_SHUT[0] - now / rest) / (DRIVER_SHUT[0] - DRIVER_SHUT[1]), 0.0, 1.0))
    if share <= 0:
        return None
    patch = _log_lightness(driver.frame.image, driver.frame.points, eye)
    if patch is None:
        return None
    low, mask = _low_pass(patch), ellipse_mask()
    lightness = float(np.exp(np.sum(low * mask) / np.sum(mask))) - 8.0  # the eye's light, OpenCV's 8-bit L
    share *= float(np.clip((lightness - DRIVER_DIM[0]) / (DRIVER_DIM[1] - DRIVER_DIM[0]), 0.0, 1.0))
    if share <= 0:
        return None
    table = shading()
    light = np.clip((patch - low) * mask, table.min() + DRIVER_GAIN[0], table.max() + DRIVER_GAIN[1])
    return share * light + (1 - share) * table


def shade_shut_lid(
    image: np.ndarray, before: np.ndarray, shape: EyeShape, closing: float, table: np.ndarray | None = None
) -> None:
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
    table = shading() if table is None else table
    gain = cv2.remap(table, x, y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)  # 0 past it
    cv2.exp(gain * shut, dst=gain)
    # into a new array: the region is a view with the frame's strides, which cv2 would not write into
    image[near] = cv2.multiply(image[near], cv2.merge((gain, gain, gain)), dtype=cv2.CV_8U)  # rounds, saturates
