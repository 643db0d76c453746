"""Lids that meet: the portrait's own upper-lid skin drawn down over a closing eye, at the output's resolution.

The spline of the `warp` presets is solved on a coarse grid (a cell is 8 crop pixels, about an eye's whole
opening), so driven lid points that meet only squeeze an eye by a quarter (docs/EXPRESSION.md); G, trained on
few blinks, paints little there. A blink is simple enough to draw exactly: the upper lid's skin slides
down over the eye and its lash line meets the lower lid, which rises a little. Per eye, in the portrait's own
pixels (where the full-resolution warp samples), along the eye (u, 0 at the outer corner, 1 at the inner)
and across it (v, down):

    upper lid vu(u), lower lid vl(u)   the portrait's lids, piecewise linear through its 68 points
    closing c = 1 − openness           openness: the driven lid gap over the portrait's (each per eye width)
    m(u) = 4·d·u·(1 − u)               where the lids meet once shut: an arc through the corners, as deep at
                                       the middle as d = vu + UPPER_SHARE·gap there, held between vu and vl
    vu' = vu + c·(m − vu)              where the lash line is drawn
    vl' = vl − c·(vl − m)

A sample the spline sends to v' in the band above (from vu − the lid's skin, LID_SKIN eye widths or less below
the brow, down to vu') reads the lid's skin stretched down to vu'; one in the band below reads the lower lid's
skin stretched up to vl'; between them the eye is left as it is: the lid covers the iris rather than squashing
it. Past the eye's ends (CORNER_MARGIN past its corners, or out over its white) the gap is 0 and so is the
change, and with openness 1 nothing changes (a face at rest stays the portrait). Closed (c = 1), vu' = vl': no
eye is left, only skin and the lash line where the lids meet: the portrait's own lashes, found in its pixels
once (find_lash), with whatever lay between them and the tracked lids (the white, a wet rim) passed over as
the lids meet (LASH_*, RIM_*), and the lashes' own colour laid along the meeting (shade_lash_line, LINE_*):
the portrait's lash row alone is as broken as its lashes. The lids vu and vl are the tracked ones moved out
over any white past them, found once too (WHITE_*): a tracker's lid points can lie inside a painted eye's
white. Where the map jumps (the lids' meeting, a closing lid's edge over the eye) a pixel is drawn from
sub-samples (smooth_lid_edges), as a camera sees an edge, not as a staircase.

Points are 68×2 (x, y) in the portrait's sample pixels (FullResolutionWarp's source), maps H×W×2 float32
(cv2.remap's CV_32FC2: source x, y per output sample).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from liveavatar.landmarks.irises import EYE_CORNERS, LOWER_LIDS, UPPER_LIDS

# Eye widths of skin above the upper lid that stretches down over a closing eye (the lid's fold to the
# crease is about half an eye's width), and below the lower lid as it rises. The upper band stops short of
# the brow (BROW_SHARE of the way up to it, but at least MIN_LID_SKIN): a blink does not move the brow, and
# stretching it down smeared Audrey Hepburn's low brows into her lids.
LID_SKIN = 0.45
MIN_LID_SKIN = 0.15
BROW_SHARE = 0.6
LOWER_SKIN = 0.25
BROWS = ((17, 18, 19, 20, 21), (22, 23, 24, 25, 26))  # above each eye (subject's right first, as the eyes)
UPPER_SHARE = 0.7  # of the closing, how much the upper lid travels; the lower lid the rest
# Where they meet is an arc through the corners (lids_now), not UPPER_SHARE of the gap all along: between the
# lids' few knots that was a polyline, flat over the eye's middle third and bent towards each corner, and every
# shut eye showed a straight ruled line where a real one curves down with its eyeball.
# A tracker's lid points sit inside the opening as often as on it (a painting's most: the Girl with a Pearl
# Earring's inner white lay above its upper lid's line), so each lid is taken this much further out (eye
# widths; the upper more, where the white shows) and the eye this much longer past each corner.
UPPER_MARGIN = 0.08
LOWER_MARGIN = 0.04
CORNER_MARGIN = 0.1
# Where the lids meet, a real closed eye shows its lash line. Drawn only from the stretched skin, the meeting
# showed whatever lay at the tracked lids: a light slit (the white above a tracked lid that sat under the
# lashes, a lower lid's wet rim), which viewers read as an eye still open. So as the lids meet (closing
# LASH_FROM → 1, the last few percent, where only that slit is left) the upper skin ends at the portrait's own
# lash line, a line LASH_WIDTH eye widths thick at the meeting reads the lashes, and the lower skin starts
# below the rim (RIM_*). The lash line is the darkest row from LASH_ABOVE above to LASH_BELOW below the upper
# lid's line, in strips LASH_STRIP wide at LASH_KNOTS along the eye, each kept within LASH_SPREAD of their
# median (one strip that finds an iris or a brow does not bend the line). Starting at closing 0.6 or 0.9 also
# hid the moved iris of eyes drawn nearly shut, and the paintings' gaze r by mediapipe fell from 0.76 to 0.68.
LASH_FROM = 0.97
LASH_TAPER = UPPER_MARGIN + LOWER_MARGIN  # the gap (eye widths) at the corners: the line thins past them
LASH_WIDTH = 0.04
LASH_ABOVE = 0.15
LASH_BELOW = 0.08
LASH_STRIP = 0.06
LASH_KNOTS = np.linspace(0.1, 0.9, 9)
LASH_SPREAD = 0.04
# That line read the portrait's lash row, which is as broken as the lashes are: the Mona Lisa's painted lid
# has no even dark row (her shut eyes showed a dashed line), Obama's lashes left gaps, and both trackers read
# such a shut eye as one still open. So once the eye is shut (closing past LASH_FROM) the lashes' own colour is
# laid where the lids meet (shade_lash_line): LINE_CORE eye widths at full strength, fading over LINE_SOFT on
# either side, and never thinner than an output pixel however far the map is stretched there (on the Mona
# Lisa a row of the shut eye spans 2 portrait pixels, and a thinner line fell between rows in dashes); it thins
# with the gap towards the eye's ends as the lash line does. The colour: per strip the darkest of the rows
# at the lash line, the darker LINE_DARKEST share of those averaged. Posed shut on 8 portraits, the lid gap
# over the open one read 0.44 → 0.37 by mediapipe and 0.93 → 0.90 by dlib (the driver's real blink: 0.18 and
# 0.48); with LINE_CORE 0.08, 0.36 and 0.87, and 0.12, 0.34 and 0.77, but those read as a marker's stroke.
# On a soft portrait (a small face in a large painting: Sargent's, eyes ~20 px wide, whose lashes fall from the
# lid over 1.4-3.6 px; Eileen Collins' photo) even that line read as drawn in ink: its fade is widened to the
# portrait's own lashes' (_lash_edge, over strips whose fall is LINE_CONTRAST in CIE L or more), its darkness
# spread over the width rather than added (the same area under its profile).
LINE_CORE = 0.04
LINE_SOFT = 0.03
LINE_DARKEST = 0.5
LINE_CONTRAST = 8.0
# Below the lower lid's line, a wet rim, the white or the lower lashes (RIM_SEARCH eye widths at most, where
# they differ from the skin further down by RIM_DISTANCE in CIE Lab) are passed over as the eye shuts, so the
# skin under them meets the lash line: a real closed eye's lower lid shows no white.
RIM_SEARCH = 0.12
RIM_SKIN = (0.16, 0.3)
RIM_DISTANCE = 12.0
# A tracker's lid points can lie inside the eye's white, not on its edge: on the Girl with a Pearl Earring's
# turned eye the inner white reached 0.17 eye widths above the upper lid's line (its margin included), and the
# upper band stretched it down over her shut eye as a white patch; a cartoon's painted eyes run well past the
# tracked corners. So once per avatar (find_lash) the eye's white is found in its pixels and each lid's line
# is moved out to its edge: per strip (WHITE_KNOTS along the eye, past the corners too, as wide as the lash
# strips), the white's furthest pixels up and down within WHITE_SEARCH eye widths of the lids, each knot at
# least as far out as a neighbour's (the lines are straight between knots); the eye's ends move out along its
# axis to one knot past the last white. The white is told from skin by its colour: about as light as the cheek
# below the eye (less WHITE_DARKER in CIE L) and under WHITE_CHROMA of its chroma, in one piece with pixels
# under WHITE_CORE of it inside the tracked eye. Lit, pale skin near a painted eye's corner kept 0.45-0.55 of
# the cheek's chroma where the Pearl Earring's white had 0.2-0.35. A grey portrait (cheek chroma under
# WHITE_MIN_CHROMA) has no white told by colour; its lids stay where they were tracked.
WHITE_KNOTS = np.linspace(-0.4, 1.4, 19)
WHITE_SEARCH = 0.2
WHITE_DARKER = 5.0
WHITE_CHROMA = 0.6
WHITE_CORE = 0.35
WHITE_MIN_CHROMA = 8.0
# The skin that stretches over a closing eye stops below anything above the lid much darker than the lid's own
# skin: a glasses frame (Grace Hopper's, the built-in sample's: its rim, 0.2 of her lid's lightness, bowed
# down into every blink and tore where the band ended) or the shadow of a deep-set eye. Per strip, the first
# row up from the lashes, past the lid's lit skin (LIT_SHARE of it) and DARK_FROM eye widths or more above them,
# whose lightness (CIE L) is under DARK_SHARE of the lid's: the lightest tenth of the rows SKIN_REFERENCE eye
# widths above the lashes (the rows just above the lashes are lashes). Dark makeup that runs from the lashes
# up has no lit skin below it and is lid, kept (Princess Diana's: one eye's band 16.9 → 15.1 px, the other
# whole); a crease (0.45-0.7 of the lid's lightness on most shared portraits) is kept, a deep one capped, as a
# real lid unfolds from under its crease. The band keeps at least MIN_CAPPED_SKIN pixels.
SKIN_REFERENCE = (0.03, 0.25)
LIT_SHARE = 0.7
DARK_FROM = 0.08
DARK_SHARE = 0.35
MIN_CAPPED_SKIN = 2.0
# pixels between the band's top and the dark row found (on a strip sampled between pixel rows): bilinear
# sampling a pixel nearer blended the rim's edge into the lid
CAP_CLEARANCE = 2.0
MIN_LASH_EYE = 8.0  # an eye narrower than this (pixels) has no lash line or rim to find
MIN_CLOSING = 0.03  # closings under this are tracker noise on an open eye: the eye is left as it is
# Where the lids meet (and at a closing lid's edge over the eye) the map jumps: one pixel reads the lashes, the
# next the skin below the eye. Sampled once per pixel that edge was a hard staircase, a thin sloped lash line a
# dashed one (the Mona Lisa's shut eyes, Audrey Hepburn's lower edge), drawn sharper than anything in the
# portrait. So the pixels on either side of a jump, where the lids' move differs from a neighbour's by over
# EDGE_JUMP pixels of the portrait, are sampled EDGE_SUPERSAMPLE² times and averaged, as a camera sees an edge.
# A squeezed lid's smooth move differs by up to about 2 between neighbours (supersampling those too is harmless).
# On the pixels redrawn on a synthetic shut eye, 3 per side came within 2.4 grey levels of an 8-per-side camera
# on average (4: 1.4; once per pixel: 16.6), at 0.1 ms less an eye than 4.
EDGE_SUPERSAMPLE = 3
EDGE_JUMP = 2.0
# each eye's upper/lower lid points facing each other, from the 68-point layout's eye indices
LID_PAIRS = tuple(tuple(zip(upper, lower, strict=True)) for upper, lower in zip(UPPER_LIDS, LOWER_LIDS, strict=True))


@dataclass(frozen=True)
class EyeShape:
    """One eye of a portrait: the outer corner (2,), the unit axes along the eye and across it (down), its
    width (pixels), each lid as (u, v) knots from corner to corner (6×2, u in eye widths, v in pixels), and
    how much skin above the upper lid may stretch over it (pixels)."""

    corner: np.ndarray
    along: np.ndarray
    down: np.ndarray
    width: float
    upper: np.ndarray
    lower: np.ndarray
    skin: float
    lash: np.ndarray | None = None  # (u, v) knots of the lash line, as the lids' (find_lash), or None
    rim: np.ndarray | None = None  # (u, depth) knots: pixels of rim below the lower lid's line, or None
    lash_colour: np.ndarray | None = None  # (3,) float32 RGB of the lashes, or None
    lash_edge: float = 0.0  # pixels over which the portrait's lashes fall from its lid's skin (_lash_edge)


def eye_shapes(points: np.ndarray) -> tuple[EyeShape, EyeShape]:
    """68×2 landmarks → both eyes' shapes (subject's right first), in the points' pixels."""
    p = np.asarray(points, np.float64)
    shapes = []
    for (a, b), upper, lower, brows in zip(EYE_CORNERS, UPPER_LIDS, LOWER_LIDS, BROWS, strict=True):
        along = p[b] - p[a]
        width = max(float(np.hypot(*along)), 1e-6)
        ax = along / width
        ay = np.array([-ax[1], ax[0]])
        if (p[list(lower)].mean(0) - p[list(upper)].mean(0)) @ ay < 0:
            ay = -ay  # "down" points from the upper lid to the lower, whichever way the eye runs

        frame = (p[a], ax, ay, width)
        upper_knots = _knots(p[list(upper)], *frame, -UPPER_MARGIN * width)
        lower_knots = _knots(p[list(lower)], *frame, LOWER_MARGIN * width)
        brow = float(np.mean((p[list(brows)] - p[a]) @ ay))  # < 0: above the eye's axis
        to_brow = float(upper_knots[2:4, 1].mean()) - brow
        skin = float(np.clip(BROW_SHARE * to_brow, MIN_LID_SKIN * width, LID_SKIN * width))
        shapes.append(EyeShape(p[a], ax, ay, width, upper_knots, lower_knots, skin))
    return shapes[0], shapes[1]


def _knots(
    lid: np.ndarray, corner: np.ndarray, along: np.ndarray, down: np.ndarray, width: float, margin: float
) -> np.ndarray:
    """A lid's two points (2×2 pixels) → 6×2 (u, v) knots: the corners and the points moved `margin` pixels
    across (outwards), and the eye's ends CORNER_MARGIN past its corners on its axis."""
    rel = lid - corner
    uv = np.column_stack([rel @ along / width, rel @ down + margin])
    ends = ([-CORNER_MARGIN, 0.0], [0.0, margin]), ([1.0, margin], [1 + CORNER_MARGIN, 0.0])
    return np.vstack([*ends[0], uv[np.argsort(uv[:, 0])], *ends[1]])


def lid_ratios(points: np.ndarray) -> np.ndarray:
    """Per eye (right, left): the lid gap (the mean of its two lid pairs, across the eye) over the eye's width,
    for 68×2 points in any pixels: 2 floats."""
    p = np.asarray(points, np.float64)
    out = np.empty(2)
    for e, ((a, b), pairs) in enumerate(zip(EYE_CORNERS, LID_PAIRS, strict=True)):
        along = p[b] - p[a]
        width = max(float(np.hypot(*along)), 1e-6)
        gaps = [p[lower] - p[upper] for upper, lower in pairs]
        # the gap across the eye: its component along the corners' line turned a quarter (down, for an
        # upright face), positive while the lower lid is below the upper
        out[e] = float(np.mean([g[1] * along[0] - g[0] * along[1] for g in gaps])) / width / width
    return out


def openness(points: np.ndarray, rest: np.ndarray | None = None, rest_ratios: np.ndarray | None = None) -> np.ndarray:
    """Per eye (right, left): the lid gap of `points` over that of `rest` (68×2 each, any pixels; or the rest's
    lid_ratios given once), each gap over its eye's width, so head scale and zoom do not read as a blink.
    1 as open as the rest, 0 closed."""
    if rest_ratios is None:
        assert rest is not None, "openness needs the rest's points or their lid_ratios"
        rest_ratios = lid_ratios(rest)
    then = rest_ratios
    now = lid_ratios(points)
    return np.where(then > 1e-6, now / np.maximum(then, 1e-6), 1.0)


def _strips(
    shape: EyeShape, image: np.ndarray, line: np.ndarray, offsets: np.ndarray, knots: np.ndarray = LASH_KNOTS
) -> tuple[np.ndarray, np.ndarray]:
    """`image` (h×w×C float32) averaged across strips LASH_STRIP wide at `knots` (u) along the eye, at `offsets`
    (pixels, down) from the lid `line` ((u, v) knots): (knots × offsets × C, the knots' v on the line)."""
    v_line = np.interp(knots, line[:, 0], line[:, 1])
    us = (knots[:, None] + np.linspace(-LASH_STRIP / 2, LASH_STRIP / 2, 5)) * shape.width  # knots × strip
    vs = v_line[:, None] + offsets  # knots × offsets
    xy = shape.corner + us[:, None, :, None] * shape.along + vs[:, :, None, None] * shape.down
    xy = xy.reshape(-1, us.shape[1], 2).astype(np.float32)  # (knots·offsets) × strip × 2
    samples = cv2.remap(image, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return samples.reshape(len(knots), len(offsets), us.shape[1], -1).mean(2), v_line


def find_lash(shape: EyeShape, source: np.ndarray) -> EyeShape:
    """The portrait's eye (`shape`, in `source`'s pixels: h×w×3 uint8 RGB) with its lids moved out over any
    white past them, its lash line (per strip across the eye, the darkest row near the upper lid's line) and
    its lower rim (module constants)."""
    width = shape.width
    if width < MIN_LASH_EYE:
        return shape
    # only the eye's neighbourhood is converted (a whole large portrait in Lab took ~0.1 s an eye)
    ends = np.array([shape.corner, shape.corner + width * shape.along])
    x0, y0 = np.maximum(np.floor(ends.min(0) - width), 0).astype(int)
    x1, y1 = np.ceil(ends.max(0) + width).astype(int) + 1
    lab = cv2.cvtColor(np.ascontiguousarray(source[y0:y1, x0:x1]).astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    here = replace(shape, corner=shape.corner - (x0, y0))  # the eye in the crop's pixels
    white = _white(here, lab)
    if white is not None:
        upper, lower = _over_white(here, white)
        shape, here = (replace(eye, upper=upper, lower=lower) for eye in (shape, here))
    offsets = np.arange(-LASH_ABOVE * width, LASH_BELOW * width + 0.5, 1.0)
    strips, v_line = _strips(here, lab[..., :1], shape.upper, offsets)
    found = offsets[np.argmin(cv2.GaussianBlur(strips[..., 0], (3, 1), 0), axis=1)]
    found = np.clip(found, np.median(found) - LASH_SPREAD * width, np.median(found) + LASH_SPREAD * width)
    edge = _lash_edge(strips[..., 0], offsets, found, width)
    lid_skin = _skin_below_dark(here, lab[..., 0], v_line + found)
    below = np.arange(0.0, RIM_SKIN[1] * width + 0.5, 1.0)
    strips, _ = _strips(here, lab, shape.lower, below)
    skin = np.median(strips[:, below >= RIM_SKIN[0] * width], axis=1)  # knots × 3
    differs = np.linalg.norm(strips - skin[:, None], axis=2) > RIM_DISTANCE  # knots × offsets
    searched = below <= RIM_SEARCH * width
    # the rim: the rows from the line down to the last that still differs from the skin, within the search
    depth = np.array([below[np.flatnonzero(d & searched)[-1]] + 1 if (d & searched).any() else 0.0 for d in differs])
    lash = np.column_stack([LASH_KNOTS, v_line + found])
    colour = _lash_colour(here, np.asarray(source[y0:y1, x0:x1], np.float32), lash)
    return replace(
        shape, lash=lash, rim=np.column_stack([LASH_KNOTS, depth]), skin=lid_skin, lash_colour=colour, lash_edge=edge
    )


def _lash_edge(lightness: np.ndarray, offsets: np.ndarray, found: np.ndarray, width: float) -> float:
    """How soft the portrait draws its lashes' upper edge (pixels): per strip (lightness: knots × offsets, CIE L
    at `offsets` pixels across the upper lid's line; found: each strip's lash row), the fall from the lid's skin
    (the lightest of the LASH_ABOVE above the lashes) to the lashes over its steepest step; the median of the
    strips whose fall is LINE_CONTRAST or more, else 0."""
    edges = []
    for profile, at in zip(lightness, found, strict=True):
        i = int(np.argmin(np.abs(offsets - at)))
        above = profile[: i + 1]
        if len(above) < 2:
            continue
        fall = float(above.max() - profile[i])
        top = int(np.argmax(above))
        steepest = float(np.max(-np.diff(above[top:]))) if i > top else 0.0
        if fall >= LINE_CONTRAST and steepest > 0:
            edges.append(fall / steepest)
    return float(np.median(edges)) if edges else 0.0


def _lash_colour(shape: EyeShape, rgb: np.ndarray, lash: np.ndarray) -> np.ndarray:
    """The lashes' colour (3 float32, RGB): per strip along the lash line (`lash`, (u, v) knots) the darkest of
    the rows a pixel either side of it, and the darker LINE_DARKEST share of those averaged. shape and lash in
    the pixels of rgb (h×w×3 float32 RGB)."""
    strips, _ = _strips(shape, rgb, lash, np.arange(-1.0, 1.5, 1.0))  # knots × 3 rows × RGB
    luma = np.array([0.299, 0.587, 0.114], np.float32)
    darkest = strips[np.arange(len(strips)), np.argmin(strips @ luma, axis=1)]  # knots × RGB
    order = np.argsort(darkest @ luma)
    return darkest[order[: max(1, round(LINE_DARKEST * len(order)))]].mean(0).astype(np.float32)


def _over_white(shape: EyeShape, white: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The upper and lower lids' (u, v) knots moved out over the eye's white (module constants), and the eye's
    ends moved out along its axis as far as the white reaches past them. white: h×w float32, 1 on the white
    (_white), of the crop `shape` is in."""
    width = shape.width
    search = WHITE_SEARCH * width
    rows = np.arange(shape.upper[:, 1].min() - search, shape.lower[:, 1].max() + search + 0.5, 1.0)
    axis = np.array([[0.0, 0.0], [1.0, 0.0]])
    strips, _ = _strips(shape, white[..., None], axis, rows, WHITE_KNOTS)
    upper, lower = (
        np.interp(WHITE_KNOTS, lid[:, 0], lid[:, 1], left=0.0, right=0.0) for lid in (shape.upper, shape.lower)
    )
    top, bottom = np.full(len(WHITE_KNOTS), np.nan), np.full(len(WHITE_KNOTS), np.nan)
    for k, column in enumerate(strips[..., 0] > 0.5):
        at = rows[column & (rows >= upper[k] - search) & (rows <= lower[k] + search)]
        if len(at):
            top[k], bottom[k] = at.min() - 0.5, at.max() + 0.5  # the white's pixels' outer edges
    # each knot at least as far out as its neighbours' white: between knots the lines are straight, and white
    # whose edge falls between two would show under the chord
    top = np.fmin(np.fmin(top, np.r_[np.nan, top[:-1]]), np.r_[top[1:], np.nan])
    bottom = np.fmax(np.fmax(bottom, np.r_[np.nan, bottom[:-1]]), np.r_[bottom[1:], np.nan])
    ends = shape.upper[0, 0], shape.upper[-1, 0]
    seen = np.flatnonzero(~np.isnan(top))
    if not len(seen):
        return shape.upper, shape.lower
    # past the tracked ends, the eye reaches one knot beyond the last white seen (where its lids meet)
    step = WHITE_KNOTS[1] - WHITE_KNOTS[0]
    first, last = min(ends[0], WHITE_KNOTS[seen[0]] - step), max(ends[1], WHITE_KNOTS[seen[-1]] + step)
    lines = []
    for line, white_edge, outer in ((shape.upper, top, np.fmin), (shape.lower, bottom, np.fmax)):
        inside = (WHITE_KNOTS > first) & (WHITE_KNOTS < last)
        u = np.r_[line[:, 0], WHITE_KNOTS[inside]]
        v = np.interp(u, line[:, 0], line[:, 1], left=0.0, right=0.0)
        v = outer(v, np.interp(u, WHITE_KNOTS, white_edge))  # NaN white: the line as it was
        knots = np.column_stack([np.r_[first, u, last], np.r_[0.0, v, 0.0]])
        knots = knots[(knots[:, 0] >= first) & (knots[:, 0] <= last)]
        lines.append(knots[np.argsort(knots[:, 0], kind="stable")])
    return lines[0], lines[1]


def _white(shape: EyeShape, lab: np.ndarray) -> np.ndarray | None:
    """h×w float32, 1 on the eye's white, else 0 (module constants: pixels about as light as the cheek below the
    eye and under WHITE_CHROMA of its chroma, in one piece with pixels under WHITE_CORE of it inside the tracked
    eye); None on a grey portrait. lab: h×w×3 float32 CIE Lab of the crop `shape` is in."""
    width = shape.width
    cheek, _ = _strips(shape, lab, shape.lower, np.arange(RIM_SKIN[0] * width, RIM_SKIN[1] * width + 0.5), WHITE_KNOTS)
    skin = np.median(cheek.reshape(-1, 3), axis=0)
    skin_chroma = float(np.hypot(skin[1], skin[2]))
    if skin_chroma < WHITE_MIN_CHROMA:  # a grey portrait: its white and its skin differ in light alone
        return None
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    loose = ((lab[..., 0] > skin[0] - WHITE_DARKER) & (chroma < WHITE_CHROMA * skin_chroma)).astype(np.uint8)
    eye = np.zeros_like(loose)
    outline = np.vstack([shape.upper, shape.lower[::-1]])
    xy = shape.corner + np.outer(outline[:, 0] * width, shape.along) + np.outer(outline[:, 1], shape.down)
    cv2.fillPoly(eye, [np.rint(xy).astype(np.int32)], (1,))
    core = (loose > 0) & (eye > 0) & (chroma < WHITE_CORE * skin_chroma)
    _, labels = cv2.connectedComponents(loose, connectivity=4)
    kept = np.unique(labels[core])
    return np.isin(labels, kept[kept > 0]).astype(np.float32)


def _skin_below_dark(shape: EyeShape, lightness: np.ndarray, lash_v: np.ndarray) -> float:
    """The upper skin band's height (pixels above the upper lid's line, at most shape.skin) that stays below
    the first row, up from the lashes and past the lid's lit skin, much darker than that skin (module
    constants): the median over the strips, a strip with no such row keeping the whole band. lightness: h×w
    float32 CIE L of the crop `shape` is in; lash_v: the lash line's v per strip (pixels)."""
    width = shape.width
    v_line = np.interp(LASH_KNOTS, shape.upper[:, 0], shape.upper[:, 1])
    offsets = np.arange(-SKIN_REFERENCE[0] * width, float(np.min(v_line - shape.skin - lash_v)) - 0.5, -1.0)
    if len(offsets) < 2:
        return shape.skin
    strips, _ = _strips(shape, lightness[..., None], np.column_stack([LASH_KNOTS, lash_v]), offsets)
    reference = offsets >= -SKIN_REFERENCE[1] * width
    heights = []
    for k, column in enumerate(strips[..., 0]):  # rows from the lashes up (offsets < 0: above)
        lid = float(np.percentile(column[reference], 90))  # the lid's lit skin
        lit = np.maximum.accumulate(column >= LIT_SHARE * lid)  # lit skin seen between the lashes and here
        dark = np.flatnonzero(lit & (column < DARK_SHARE * lid) & (offsets < -DARK_FROM * width))
        heights.append(v_line[k] - lash_v[k] - offsets[dark[0]] - CAP_CLEARANCE if len(dark) else shape.skin)
    return float(np.clip(np.median(heights), MIN_CAPPED_SKIN, shape.skin))


def band_box(shape: EyeShape) -> tuple[np.ndarray, np.ndarray]:
    """The (x, y) bounds (min, max) of the pixels close_lids may read: the eye with its skin bands."""
    top = float(shape.upper[:, 1].min()) - shape.skin
    bottom = float(shape.lower[:, 1].max()) + LOWER_SKIN * shape.width
    ends = (shape.upper[0, 0], shape.upper[-1, 0])
    corners = np.array([[ends[0], top], [ends[1], top], [ends[0], bottom], [ends[1], bottom]])
    xy = shape.corner + np.outer(corners[:, 0] * shape.width, shape.along) + np.outer(corners[:, 1], shape.down)
    return xy.min(0), xy.max(0)


def smooth_lid_edges(
    image: np.ndarray,
    source: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    shape: EyeShape,
    closing: float,
    supersample: int = EDGE_SUPERSAMPLE,
    interpolation: int = cv2.INTER_LINEAR,
) -> int:
    """Redraws, from `supersample`² sub-samples each, the pixels of `image` (h×w×3 uint8 RGB; changed in
    place) on either side of a lid edge close_lid drew hard (module constants). `image` was remapped from
    `source` (the portrait, H×W×3 uint8 RGB) by `after`, which is `before` (its map, h×w×2 float32) after
    close_lid(…, shape, closing); interpolation: the cv2 flag it was remapped with. Returns how many pixels
    were redrawn."""
    h, w = before.shape[:2]
    k = int(supersample)
    if k < 2 or h < 2 or w < 2 or float(closing) < MIN_CLOSING:
        return 0
    move = after - before
    mx, my = move[..., 0], move[..., 1]
    edge = np.zeros((h, w), bool)
    # between each pixel and the one below, and the one to its right (elementwise: numpy's max over a last
    # axis of 2 took 5× as long)
    down = np.maximum(np.abs(mx[1:] - mx[:-1]), np.abs(my[1:] - my[:-1])) > EDGE_JUMP
    right = np.maximum(np.abs(mx[:, 1:] - mx[:, :-1]), np.abs(my[:, 1:] - my[:, :-1])) > EDGE_JUMP
    edge[1:] |= down
    edge[:-1] |= down
    edge[:, 1:] |= right
    edge[:, :-1] |= right
    ys, xs = np.nonzero(edge)
    if not len(ys):
        return 0
    # each such pixel's k×k sub-sample centres, where the map (smooth before the lids) reads them, closed
    at = (np.arange(k) + 0.5) / k - 0.5
    ox, oy = (o.ravel() for o in np.meshgrid(at, at))
    sub = cv2.remap(
        before,
        (xs[:, None] + ox).astype(np.float32),
        (ys[:, None] + oy).astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )  # pixels × k² × 2
    close_lid(sub, shape, closing)
    drawn = cv2.remap(source, sub[..., 0], sub[..., 1], interpolation, borderMode=cv2.BORDER_REPLICATE)
    image[ys, xs] = np.rint(drawn.sum(axis=1, dtype=np.float32) * np.float32(1 / (k * k))).astype(np.uint8)
    return len(ys)


def eye_coordinates(samples: np.ndarray, shape: EyeShape) -> tuple[np.ndarray, ...]:
    """Source points (…×2 float32) → per point, float32: u along the eye, v across it, the lids' v there (vu,
    vl) and the gap between them (0 past the eye's ends, where nothing moves)."""
    x = samples[..., 0] - np.float32(shape.corner[0])
    y = samples[..., 1] - np.float32(shape.corner[1])
    along, down = shape.along.astype(np.float32), shape.down.astype(np.float32)
    u = (x * along[0] + y * along[1]) / np.float32(shape.width)
    v = x * down[0] + y * down[1]
    vu = np.interp(u, shape.upper[:, 0], shape.upper[:, 1]).astype(np.float32)
    vl = np.interp(u, shape.lower[:, 0], shape.lower[:, 1]).astype(np.float32)
    inside_ends = (u > shape.upper[0, 0]) & (u < shape.upper[-1, 0])
    return u, v, vu, vl, np.maximum(vl - vu, 0.0) * inside_ends


def lids_now(
    u: np.ndarray, vu: np.ndarray, vl: np.ndarray, shape: EyeShape, closing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where the upper and the lower lid are `closing` of the way to where they meet once shut (v, pixels, per
    point at u along the eye; vu, vl: the lids' v there): an arc through the corners as deep at the eye's
    middle as UPPER_SHARE of the gap there, held between the lids (module docstring)."""
    mid_upper = float(np.interp(0.5, *shape.upper.T))
    depth = mid_upper + UPPER_SHARE * (float(np.interp(0.5, *shape.lower.T)) - mid_upper)
    t = np.clip(u, 0.0, 1.0)
    meet = np.minimum(np.maximum(np.float32(4 * depth) * t * (1 - t), vu), vl).astype(np.float32)
    c = np.float32(closing)
    return vu + c * (meet - vu), vl - c * (vl - meet)


def _shut(closing: float) -> np.float32:
    """0 … 1 as the eye shuts: the last (1 − LASH_FROM) of its closing."""
    return np.float32(np.clip((closing - LASH_FROM) / (1 - LASH_FROM), 0.0, 1.0))


def _taper(gap: np.ndarray, shape: EyeShape, shut: np.float32) -> np.ndarray:
    """How much of the lash line is drawn (0 … 1, with `shut`): it and what it covers thin to nothing past the
    corners, as the gap does. At an even width the line ended in a square cut (drawn in ink on dark lashes),
    and the lid, taken down to the lashes up to the eye's very end, stopped there in a step against the skin
    beside it (Audrey Hepburn's liner's wing)."""
    return np.minimum(gap * np.float32(1 / (LASH_TAPER * shape.width)), 1.0) * shut


def close_lid(samples: np.ndarray, shape: EyeShape, closing: float) -> None:
    """Moves the source points `samples` (…×2 float32 view of a remap map, the eye's pixels; changed in
    place) so the eye reads `closing` (0 open as the portrait … 1 shut) of the way closed. Module docstring.
    Whole-array float32 arithmetic, no masked indexing: ~0.05 ms an eye at 720p, where indexing took 0.27."""
    c = float(np.clip(closing, 0.0, 1.0))
    if c < MIN_CLOSING:
        return
    u, v, vu, vl, gap = eye_coordinates(samples, shape)
    top = vu - np.float32(shape.skin)
    bottom = vl + np.float32(LOWER_SKIN * shape.width)
    vu_now, vl_now = lids_now(u, vu, vl, shape, c)
    shut = _shut(c)
    read_to, read_from = vu, vl  # the upper band's skin ends at read_to, the lower's starts at read_from
    lash_knots = shape.lash if shut > 0 else None
    # (only read as the eye shuts, the last few percent of a blink: not worked out on the frames before)
    taper = _taper(gap, shape, shut) if shut > 0 else np.float32(0)
    if lash_knots is not None:
        lash = np.interp(u, lash_knots[:, 0], lash_knots[:, 1]).astype(np.float32)
        half = np.float32(LASH_WIDTH * shape.width / 2) * taper
        # what lies between the lashes and vu is covered; at least half the skin band is kept to stretch
        read_to = vu + taper * np.clip(lash + half - vu, -0.5 * np.float32(shape.skin), 0.0)
    # the bands' denominators are at least the skin's height (> 0): no division by zero
    stretched_down = top + (v - top) * (read_to - top) / (vu_now - top)
    if shape.rim is not None and shut > 0:
        read_from = vl + taper * np.interp(u, shape.rim[:, 0], shape.rim[:, 1]).astype(np.float32)
    stretched_up = bottom - (bottom - v) * (bottom - read_from) / (bottom - vl_now)
    above = (v >= top) & (v < vu_now) & (gap > 0)
    below = (v > vl_now) & (v <= bottom) & (gap > 0)
    move = np.where(above, stretched_down - v, np.where(below, stretched_up - v, np.float32(0.0)))
    if lash_knots is not None:  # the line where the lids meet reads the lashes, row for row about their darkest
        on_line = (np.abs(v - vu_now) <= half) & (gap > 0)
        move = np.where(on_line, lash - vu_now, move)
    down = shape.down.astype(np.float32)
    samples[..., 0] += move * down[0]
    samples[..., 1] += move * down[1]


def rows_near_meeting(before: np.ndarray, shape: EyeShape, closing: float, reach: float) -> slice | None:
    """The rows of a map `before` (h×w×2 float32 source pixels) that come within `reach` source pixels (and
    two rows' step) of where the lids meet at `closing`, or None. The meeting's extremes are at the lids'
    knots and at the arc's deepest, u 0.5."""
    down = shape.down.astype(np.float32)
    v = (before[..., 0] - np.float32(shape.corner[0])) * down[0] + (
        before[..., 1] - np.float32(shape.corner[1])
    ) * down[1]
    knots = np.union1d(np.union1d(shape.upper[:, 0], shape.lower[:, 0]), [0.5])
    upper, lower = np.interp(knots, *shape.upper.T), np.interp(knots, *shape.lower.T)
    meet, _ = lids_now(knots, upper, np.maximum(lower, upper), shape, closing)
    reach += 2 * float(np.abs(np.diff(v, axis=0)).max(initial=1.0))
    rows = np.flatnonzero(((v > meet.min() - reach) & (v < meet.max() + reach)).any(axis=1))
    return slice(rows[0], rows[-1] + 1) if len(rows) else None


def shade_lash_line(image: np.ndarray, before: np.ndarray, shape: EyeShape, closing: float) -> None:
    """Lays the lashes' colour (shape.lash_colour) where a shut eye's lids meet (module constants, LINE_*) in
    `image` (h×w×3 uint8 RGB, changed in place), remapped by a map that was `before` (h×w×2 float32 source
    pixels) ahead of close_lid(…, shape, closing). Nothing changes until the eye shuts (closing past LASH_FROM)."""
    c = float(np.clip(closing, 0.0, 1.0))
    shut = _shut(c)
    if shut <= 0 or shape.lash_colour is None:
        return
    # only the rows that come near the meeting are worked on: the whole eye's box took 0.57 ms an eye on a
    # large portrait's 2× grid
    near = rows_near_meeting(before, shape, c, (LINE_CORE / 2 + LINE_SOFT) * shape.width)
    if near is None:
        return
    image, before = image[near], before[near]
    u, v, vu, vl, gap = eye_coordinates(before, shape)
    off = np.abs(v - lids_now(u, vu, vl, shape, c)[0])  # from where the lids meet, source pixels
    taper = _taper(gap, shape, shut)
    # source pixels per output pixel across the line, there (the spline stretches a shut eye's map)
    step = np.hypot(*np.gradient(v)) if min(v.shape) > 1 else np.ones_like(v)
    core = np.maximum(np.float32(LINE_CORE * shape.width / 2), 0.5 * step) * taper
    sharp = np.maximum(np.float32(LINE_SOFT * shape.width), step)
    soft = np.maximum(sharp, np.float32(shape.lash_edge))
    t = np.clip((core + soft - off) / soft, 0.0, 1.0)
    # as soft as the portrait's own lashes, and as much darkness in all as the sharp line (its profile's area,
    # 2·core + soft): a soft painting's line is wider and fainter, not wider and as dark
    strength = (2 * core + sharp) / np.maximum(2 * core + soft, np.float32(1e-6))
    cover = (taper * strength * t * t * (3 - 2 * t))[..., None]  # smoothstep: no edge of its own
    image[:] = np.rint(image * (1 - cover) + shape.lash_colour * cover).astype(np.uint8)
