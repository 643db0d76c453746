"""Eyes that look: the portrait's own iris drawn where the driven one is, at the output's resolution.

The warp's spline carries only about a third of a gaze's move into the pixels: its 8-px cells hold about one
eye opening, and the lids are pinned beside the iris (docs/EXPRESSION.md, "Gaze"). Bending its map further
smeared the iris (the map is sheared there), and redrawing the whole opening pulled lashes along wherever the
tracked outline missed the lid's edge. So only the iris moves, as a whole, over the eye's white:

    opening   the refined mesh's 16-point eye contour (PortraitEyes), its lids' lines top(u) and bottom(u)
              along the eye (u) and across it (v, down), in the portrait's own pixels, taken a little out
    iris      a sprite: the portrait's pixels inside the tracked iris's disc and the opening (whole inside
              CORE radii, out to DISC where darker than the white), completed from its mirror image across
              its centre row where a lid hides it
    white     the portrait's eye with the disc the sprite takes filled, row by row along the eye, from the
              white just past it on either side (the lids' lines hold each side's sample inside the opening)

Per frame, each output sample whose map (the spline's, the lids closed: liveavatar.render.lids) reads the
portrait's opening shows the white there, with the sprite on top, moved whole to the driven iris: taken to
the output by the similarity between the portrait's eye corners and the driven ones (the head's turn and
scale, not the spline's shear), so it stays round. Samples whose map reads anything else (the lids, a
closing lid's skin) are left as they are, and the redraw fades in over the iris's first pixel of travel
(FADE_IN), so a portrait at rest, or looking where it already looks, is the portrait pixel for pixel.

Points are (x, y); maps H×W×2 float32 (cv2.remap's CV_32FC2: source x, y per output sample); images
H×W×3 uint8 RGB.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from liveavatar.render.lids import EyeShape

# Refined-mesh indices (mediapipe's FACEMESH_RIGHT_EYE / _LEFT_EYE), subject's right eye first: the outer
# corner, the lower lid to the inner corner, then the upper lid back (16 points).
EYE_CONTOURS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
)
CONTOUR_POINTS = 16
LOWER_LID = (0, 1, 2, 3, 4, 5, 6, 7, 8)  # corner, 7 lower-lid points, corner
UPPER_LID = (8, 9, 10, 11, 12, 13, 14, 15, 0)  # corner, 7 upper-lid points, corner
# The refined mesh's lid lines sit inside the opening on many faces (a band of iris under Audrey Hepburn's
# upper line, of white above Elizabeth Olsen's lower one), and a part of the iris outside the opening stayed
# behind as the rest moved: each lid's line is taken this far out (eye widths; the corners stay).
UPPER_GROW = 0.04
LOWER_GROW = 0.02
# The sprite's disc, in the iris's radii: whole inside CORE, and out to DISC (past the iris, so its dark rim
# moves with it, and a cartoon's large iris whose radius the tracker reads short) as far as it is darker than
# the white; the white is filled a little past what the sprite takes (MIN_FILL to FILL radii), so no rim or
# shadow of the iris is left behind where it was.
CORE = 0.8
DISC = 1.4
MIN_FILL, FILL = 1.2, 1.5
MIN_CONTRAST = 12.0  # grey levels: the iris's darkness under the white is read over at least this
GREY = np.array([0.299, 0.587, 0.114])  # RGB → luma
# A human iris spans ~0.35-0.45 of the eye's width; a tracked radius outside these bounds (eye widths) is
# clamped to them (a painted eye's iris may be read too small or too large).
RADIUS_RANGE = (0.12, 0.25)
EDGE = 1.0  # the sprite's and the opening's soft edges, in portrait pixels and output samples
# The upper lid's lashes shade the opening below its tracked line: that band (eye widths) is left out of the
# iris that moves (moved down, it showed as a dark cap), and the iris there is completed from below.
LASH_SHADOW = 0.05
# Of the driven iris's move across the eye, the share the iris makes: a gaze up or down is mostly the lids
# following it (which the driven lids do), and the iris moved the whole way showed white above or below it.
VERTICAL = 0.6
FADE_IN = 1.0  # portrait pixels of the iris's travel over which the redraw fades in
WHITE_GAP = 1.0  # portrait pixels beyond the filled disc where the white is sampled
WHITE_SPAN = 3  # portrait pixels along the eye over which each side's white is averaged


@dataclass(frozen=True)
class PortraitEyes:
    """What the refined mesh found of the portrait's eyes (liveavatar.avatar.portrait_eyes), in crop pixels,
    subject's right first, NaN for an eye whose iris was not found: irises 2×2 float32 (centres), contours
    2×16×2 float32 (the eye's opening, in EYE_CONTOURS' order), radii 2 float32 (the irises')."""

    irises: np.ndarray
    contours: np.ndarray
    radii: np.ndarray


@dataclass(frozen=True)
class Eyeball:
    """One eye of the portrait, in its source pixels: the eye frame's origin (its first 68-point corner, 2,)
    and unit axes along (to the second) and across (down); its width; the lids' lines as (u, v) knots sorted
    along; its ends along (u); the iris centre (x, y) and the sprite's radius. patch: (x0, y0) of the images
    below in the source; sprite h×w×4 uint8 (RGB, A: how much of each pixel moves with the iris) and white
    h×w×3 uint8 RGB (the eye with the iris filled out)."""

    origin: np.ndarray
    along: np.ndarray
    down: np.ndarray
    width: float
    top: np.ndarray
    bottom: np.ndarray
    ends: tuple[float, float]
    iris: np.ndarray
    radius: float
    patch: tuple[int, int]
    sprite: np.ndarray
    white: np.ndarray

    def frame(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source pixels → the eye frame (u, v)."""
        x, y = x - self.origin[0], y - self.origin[1]
        return x * self.along[0] + y * self.along[1], x * self.down[0] + y * self.down[1]

    def inside(self, u: np.ndarray, v: np.ndarray, below_top: float = 0.0) -> np.ndarray:
        """Signed distance (pixels, > 0 inside) of eye-frame points from the opening's edge, across the eye
        or along it, whichever is nearer; below_top (pixels) lowers the upper lid's line."""
        return np.minimum.reduce(
            [
                v - np.interp(u, self.top[:, 0], self.top[:, 1]) - below_top,
                np.interp(u, self.bottom[:, 0], self.bottom[:, 1]) - v,
                u - self.ends[0],
                self.ends[1] - u,
            ]
        )


def eyeball_of(
    source: np.ndarray, shape: EyeShape, contour: np.ndarray, iris: np.ndarray, radius: float
) -> Eyeball | None:
    """source: the portrait's pixels (H×W×3 uint8 RGB); shape: the eye's frame from its 68 points
    (liveavatar.render.lids.eye_shapes: first corner, axes along and down, width); contour: its 16 points in
    EYE_CONTOURS' order; iris: its centre (2,); radius: the iris's; all in source pixels. None when any is
    missing (NaN), the eye is too small, or it lies outside the source."""
    k = np.asarray(contour, np.float64)
    i = np.asarray(iris, np.float64)
    if not (np.isfinite(k).all() and np.isfinite(i).all() and np.isfinite(radius)) or shape.width < 4:
        return None
    origin, ax, ay, width = shape.corner, shape.along, shape.down, shape.width
    uv = np.column_stack([(k - origin) @ ax, (k - origin) @ ay])
    lower, upper = uv[list(LOWER_LID)], uv[list(UPPER_LID)]
    top = upper[np.argsort(upper[:, 0])] - (0.0, UPPER_GROW * width)
    bottom = lower[np.argsort(lower[:, 0])] + (0.0, LOWER_GROW * width)
    top[[0, -1], 1] += UPPER_GROW * width  # the corners stay
    bottom[[0, -1], 1] -= LOWER_GROW * width
    ends = (float(uv[:, 0].min()), float(uv[:, 0].max()))
    # The tracker's iris, not one searched for in the pixels: a search for the darkest disc against its ring
    # (tried) drifted 0.1-0.5 radii towards lashes and lid shadows on most photos and cut the iris there.
    r = DISC * float(np.clip(radius, RADIUS_RANGE[0] * width, RADIUS_RANGE[1] * width))
    # the patch: the opening with room for the disc to travel a whole disc past either corner
    lo, hi = k.min(0) - 2 * r - 2, k.max(0) + 2 * r + 2
    h, w = source.shape[:2]
    x0, y0 = max(0, int(np.floor(lo[0]))), max(0, int(np.floor(lo[1])))
    x1, y1 = min(w, int(np.ceil(hi[0])) + 1), min(h, int(np.ceil(hi[1])) + 1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    eye = Eyeball(origin, ax, ay, width, top, bottom, ends, i, r, (x0, y0), np.empty(0), np.empty(0))
    sprite, white = _layers(eye, np.ascontiguousarray(source[y0:y1, x0:x1]))
    return replace(eye, sprite=sprite, white=white)


def _layers(eye: Eyeball, patch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sprite (RGBA) and the white (RGB) of `eye` over its source patch (h×w×3 uint8 RGB)."""
    h, w = patch.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float64) + eye.patch[0], np.arange(h, dtype=np.float64) + eye.patch[1])
    u, v = eye.frame(xs, ys)
    iu, iv = eye.frame(eye.iris[0], eye.iris[1])
    opening = np.clip(eye.inside(u, v) / EDGE + 0.5, 0.0, 1.0)
    clear = np.clip(eye.inside(u, v, LASH_SHADOW * eye.width) / EDGE + 0.5, 0.0, 1.0)  # the iris, no lash shadow
    disc = np.clip((eye.radius - np.hypot(u - iu, v - iv)) / EDGE + 0.5, 0.0, 1.0)
    # The iris completed where a lid hides it, from its mirror image across its centre's row (an iris is round):
    # moved up or down, or to where the opening is taller, it shows more of itself than the portrait does, and
    # a lid's edge cutting it flat would then show inside the opening.
    mirrored_v = 2 * iv - v
    mx = eye.origin[0] + u * eye.along[0] + mirrored_v * eye.down[0] - eye.patch[0]
    my = eye.origin[1] + u * eye.along[1] + mirrored_v * eye.down[1] - eye.patch[1]
    hidden = np.clip(eye.inside(u, mirrored_v, LASH_SHADOW * eye.width) / EDGE + 0.5, 0.0, 1.0) * (1 - clear)
    seen = clear + hidden  # ≤ 1: hidden is 0 where the opening shows the pixel itself
    iris = (patch * clear[..., None] + _sample(patch, mx, my) * hidden[..., None]) / np.maximum(seen, 1e-6)[..., None]
    # The disc's outer ring moves only as far as it is darker than the white there (the iris's rim, not the white
    # around it): a tracked radius a little too large carried a ring of white that showed as a halo on the
    # filled white, one too small (a cartoon's iris) left the iris's outer ring behind.
    distance = np.hypot(u - iu, v - iv)
    widest = _fill(eye, patch, u, v, FILL * eye.radius / DISC)
    grey_iris, grey_fill = iris @ GREY, widest @ GREY
    core = np.clip((CORE / DISC * eye.radius - distance) / EDGE + 0.5, 0.0, 1.0)
    inner = (core > 0.5) & (seen > 0.5)
    level = float(np.median(grey_iris[inner])) if inner.any() else float(grey_iris.min())
    rim = np.clip((grey_fill - grey_iris) / np.maximum(grey_fill - level, MIN_CONTRAST), 0.0, 1.0)
    alpha = seen * disc * (core + (1 - core) * rim)
    sprite = np.dstack([np.clip(np.round(iris), 0, 255).astype(np.uint8), np.round(alpha * 255).astype(np.uint8)])
    # The white is filled as far as the iris darkens it (no less than MIN_FILL radii, the iris's rim and shadow;
    # no more than FILL), not always the widest: a wider fill than needed showed as a flat patch on a shaded
    # white, a narrower one left a cartoon iris's outer ring behind.
    dark = (rim > 0.3) & (opening > 0.5) & (distance <= FILL * eye.radius / DISC)
    reach = float(distance[dark].max()) + EDGE if dark.any() else 0.0
    radius = float(np.clip(reach, MIN_FILL * eye.radius / DISC, FILL * eye.radius / DISC))
    fill = widest if radius >= FILL * eye.radius / DISC else _fill(eye, patch, u, v, radius)
    cover = (opening * np.clip((radius - distance) / EDGE + 0.5, 0.0, 1.0))[..., None]
    white = patch * (1 - cover) + fill * cover
    return sprite, np.clip(np.round(white), 0, 255).astype(np.uint8)


def _fill(eye: Eyeball, patch: np.ndarray, u: np.ndarray, v: np.ndarray, radius: float) -> np.ndarray:
    """The eye's white over a disc of `radius` (portrait px) about the iris, h×w×3 float64 (meaningful inside
    it): per row along the eye, the white just past the disc's edge on that row, on either side (held inside the
    opening), mixed linearly between them, so it meets the white around it; a side past the corner is left out."""
    iu, iv = eye.frame(eye.iris[0], eye.iris[1])
    half = np.sqrt(np.maximum(radius**2 - (v - iv) ** 2, 0.0))
    sides = []
    for side in (-1.0, 1.0):
        reads = []
        edge = iu + side * (half + WHITE_GAP)
        for step in np.linspace(0.0, WHITE_SPAN, 4):
            su = edge + side * step
            top = np.interp(su, eye.top[:, 0], eye.top[:, 1]) + EDGE
            sv = np.clip(v, top, np.maximum(top, np.interp(su, eye.bottom[:, 0], eye.bottom[:, 1]) - EDGE))
            sx = eye.origin[0] + su * eye.along[0] + sv * eye.down[0] - eye.patch[0]
            sy = eye.origin[1] + su * eye.along[1] + sv * eye.down[1] - eye.patch[1]
            reads.append(_sample(patch, sx, sy))
        usable = ((edge > eye.ends[0]) & (edge < eye.ends[1]))[..., None]
        sides.append((np.mean(reads, axis=0), usable))
    (left, left_ok), (right, right_ok) = sides
    t = np.clip((u - iu + half + WHITE_GAP) / (2 * (half + WHITE_GAP)), 0.0, 1.0)[..., None]
    both = left * (1 - t) + right * t
    fill = np.where(left_ok & right_ok, both, np.where(left_ok, left, np.where(right_ok, right, both)))
    return cv2.GaussianBlur(np.asarray(fill, np.float32), (1, 3), 0, sigmaY=0.8).astype(np.float64)  # no streaks


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """image (h×w×3 uint8) read bilinearly at (x, y) (its pixels, any shape), as float64."""
    read = cv2.remap(
        image, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return read.astype(np.float64)


def turn_eyeball(
    image: np.ndarray,
    samples: np.ndarray,
    origin: tuple[int, int],
    eye: Eyeball,
    driven_corners: np.ndarray,
    target: np.ndarray,
    interpolation: int = cv2.INTER_LINEAR,
) -> None:
    """Draws `eye` with its iris at `target` into `image` (h×w×3 uint8 RGB, the remapped output on the map's
    grid; changed in place), where `samples` (h×w×2 float32, the same part of the final map) reads the
    portrait's opening. Both start at grid position origin (x, y); driven_corners (2×2) and target (2,) are in
    grid pixels; interpolation: the cv2 flag the rest of the eye was remapped with (bicubic keeps a 1×
    remap's sharpness, which bilinear softened by a fifth on the Mona Lisa's eyes). Module docstring."""
    h, w = samples.shape[:2]
    if h == 0 or w == 0:
        return
    # the similarity: the portrait's eye (source px) → the driven eye (grid px), by the two corners
    src = np.asarray([eye.origin, eye.origin + eye.width * eye.along])
    dst = np.asarray(driven_corners, np.float64)
    a, b = src[1] - src[0], dst[1] - dst[0]
    z = complex(*b) / complex(*a) if abs(complex(*a)) > 1e-9 else 1.0
    rot = np.array([[z.real, -z.imag], [z.imag, z.real]])
    offset = dst[0] - rot @ src[0]
    at_target = np.linalg.solve(rot, np.asarray(target, np.float64) - offset)  # the driven iris, source px
    d = at_target - eye.iris
    d = (d @ eye.along) * eye.along + VERTICAL * (d @ eye.down) * eye.down
    fade = min(1.0, float(np.hypot(*d)) / FADE_IN)
    if fade <= 0:
        return
    mu, mv = eye.frame(samples[..., 0], samples[..., 1])  # float32, as the map
    scale = abs(z)  # grid px per source px
    # 0 on the lid's line itself (a shut eye's lash line reads it), 1 an EDGE inside
    opening = np.clip(eye.inside(mu, mv) * np.float32(scale / EDGE), 0.0, 1.0)
    rows, cols = np.flatnonzero(opening.any(axis=1)), np.flatnonzero(opening.any(axis=0))
    if len(rows) == 0:
        return
    # only the opening's box is drawn (about a third of the eye's)
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box = samples[r0:r1, c0:c1]
    # the white, where the spline's map reads it (so it stays with the lids)
    white = cv2.remap(
        eye.white,
        box[..., 0] - np.float32(eye.patch[0]),
        box[..., 1] - np.float32(eye.patch[1]),
        interpolation,
        borderMode=cv2.BORDER_REPLICATE,
    )
    # the sprite, moved by d in the portrait and then by the similarity: grid = rot·(source + d) + offset
    shift = rot @ (np.asarray(eye.patch, np.float64) + d) + offset - (origin[0] + c0, origin[1] + r0)
    size = (int(c1 - c0), int(r1 - r0))
    sprite = cv2.warpAffine(eye.sprite, np.hstack([rot, shift[:, None]]), size, flags=interpolation)
    cover = cv2.extractChannel(sprite, 3).astype(np.float32) * np.float32(1 / 255)
    drawn = cv2.blendLinear(cv2.cvtColor(sprite, cv2.COLOR_RGBA2RGB), white, cover, 1 - cover)
    share = (opening[r0:r1, c0:c1] * fade).astype(np.float32)
    part = image[r0:r1, c0:c1]
    cv2.blendLinear(drawn, part, share, 1 - share, dst=part)
