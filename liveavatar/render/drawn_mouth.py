"""A mouth drawn inside the avatar's open lips where there is no driver's mouth to lay there.

With a camera, the driver's own mouth at that very frame fills the avatar's open lips (driver_mouth.py).
Without one (`pose`, the scripted performance that `liveavatar demo` runs, the app with the driver's mouth
turned off) only the generator paints there, and on a closed-mouth portrait opened wide it paints a flat grey
or pink smudge with no teeth (the built-in sample's, in the README's first command). So the inside is drawn,
at the output's resolution, in the driven inner lips' own frame (along the mouth from one inner corner to the
other, s 0…1; across it, down, from the upper inner lip):

    upper teeth   hanging from the upper lip, as deep as half the gap and at most UPPER_TEETH mouth widths,
                  shortest at the sides and ending short of the corners, a faint line between neighbours, lit
                  in front and fading to the sides (lower teeth, drawn as a dimmer row along the lower lip,
                  read as a grey rim there and were left out)
    tongue        low at the back, an ellipse half the mouth wide
    cavity        the dark between, darkest at the back

in a camera's colours (a webcam's lips-and-skin ring, CAMERA_RING), moved to the portrait's by the ring
around the avatar's mouth exactly as the driver's mouth is (driver_mouth.colour_map: a grey portrait gets a
grey mouth, a dark painting a dark one), with the grain of the portrait's skin (the ring's fine detail) added,
and laid inside the inner lips feathered, faded in with the opening as the driver's is. A portrait whose own
mouth is open at rest (a smile with teeth, parted lips) shows its own inside, moved by the warp, until the
warp would stretch it to a smear: the drawing fades in with the driven opening over the portrait's (STRETCH).
Until then G's paint is taken off that inside (unpaint_own_inside, OWN_INSIDE): it washed the portrait's own
teeth to a pale ghost. A smile's own teeth are not stretched at all: its lips carry them (carry_own_teeth,
CARRIED), the upper teeth hanging from the upper lip at their own size, and the drawing's dark and tongue open
between them in place of drawn teeth.

Boundaries: the frame is H×W×3 uint8 RGB (changed in place); points 68×2 float (x, y) output pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from liveavatar.render.driver_mouth import (
    GROW,
    INNER_LIP,
    LOWER_INNER,
    OUTER_LIP,
    UPPER_INNER,
    colour_map,
    detail,
    feather_of,
    mouth_box,
    open_fade,
    opening,
    ring_box,
    ring_stats,
)

# A webcam's lips-and-skin ring (YCrCb mean and standard deviation): the median over 42 frames of 14 of the
# shared talking clips, which is what the colours below are drawn against (a ring this bright and varied).
CAMERA_RING = (np.array([118.7, 152.2, 112.4]), np.array([24.1, 5.0, 3.4]))
TEETH = np.array([208.0, 200.0, 182.0])  # RGB, lit
CAVITY = np.array([62.0, 24.0, 26.0])
BACK = np.array([30.0, 10.0, 12.0])  # the cavity's darkest, at the back of the mouth
TONGUE = np.array([168.0, 78.0, 82.0])
UPPER_TEETH = 0.11  # mouth widths: the upper incisors' visible height at most (a real one is ~0.2 of the width)
TEETH_SPAN = 0.4  # mouth widths from the middle to each end of the rows of teeth
TOOTH = 0.085  # mouth widths between the lines that part neighbouring teeth (incisors about that wide)
# The driven opening over the portrait's own (each a gap over the mouth's width) over which the drawing fades
# in: the warp shows the portrait's own inside (a smile's teeth, parted lips' shadow) as long as it stretches
# it little, and smears it past that (a slit opened wide, teeth stretched to a ghost). A closed mouth reads
# 0.01-0.03 (the shared portraits), parted lips 0.06-0.10, a smile with teeth 0.14-0.25; CLOSED_OPENING
# stands for anything less, so a closed portrait's drawing fades in over the first pixels of opening.
STRETCH = (1.5, 2.5)
CLOSED_OPENING = 0.03
# A portrait whose own mouth is open at rest as a smile's (own opening from CARRIED[0], fully from CARRIED[1], gap
# over width) keeps its own teeth, carried by its lips (carry_own_teeth) rather than stretched: the upper lip carries
# the upper teeth (own_teeth_split of its opening), the lower lip the rest. Stretched, a smile's teeth turned
# into grey bars and then, halfway into the drawing's fade, two rows of teeth one over the other (Eileen
# Collins, Obama at mouth 0.5–0.8). Carried, they never stretch, so the drawing (its dark and tongue, no teeth
# of its own) fades in at once between them (STRETCH_CARRIED).
# A mouth open wider at rest (from CARRIED[2], fully at CARRIED[3]: a shout, a yawn) is stretched as before: it
# shows its whole inside, which carried by the upper lip hung a patch of its tongue in the drawing's dark.
CARRIED = (0.08, 0.12, 0.3, 0.4)
DEFAULT_SPLIT = 0.65  # where own teeth part when the portrait's mouth cannot be read (own_teeth_split)
# Where the own teeth part (own_teeth_split): the darkest of SPLIT_BINS rows across the middle of the mouth,
# searched over SPLIT_RANGE of the gap from the upper lip, if under SPLIT_DARK of the teeth's lightness (the
# profile's 80th percentile); only where the gap at rest is MIN_SPLIT_GAP crop pixels or more.
SPLIT_BINS = 12
SPLIT_RANGE = (0.35, 0.9)
SPLIT_DARK = 0.7
MIN_SPLIT_GAP = 4.0
# A lower lip carries its share of the own inside only from this much of it: less is only the lip's wet rim,
# which read as a light outline drawn along the lower lip (Eileen Collins, Audrey Hepburn, Donald Trump).
MIN_LOWER_SHARE = 0.2
STRETCH_CARRIED = (1.05, 1.4)
# The portrait's own opening at rest (gap over mouth width) over which G's paint is taken off the inside of the
# mouth (unpaint_own_inside), fully from the second: parted lips 0.06-0.10, a smile with teeth 0.14 and more.
OWN_INSIDE = (0.05, 0.1)
# A portrait's own open mouth shows teeth where the brightest fifth of its inside is lighter than its lips'
# median by TEETH_SHOW (luma levels; own_teeth_show): the shared portraits' smiles with teeth 37–91 (Trump,
# Ducreux, Eileen Collins, Audrey Hepburn, Obama; the surprised woman's open mouth 61), a painted dark line
# between the lips or parted lips' shadow −93 to 16 (Bob Dylan, Courbet, the Girl with a Pearl Earring, Van
# Gogh, the Apollo bust).
TEETH_SHOW = (22.0, 32.0)
MIN_TEETH_PIXELS = 20
SOFTEN = 0.7  # pixels of Gaussian blur: a drawing's edges are crisper than any photo's mouth
GRAIN = 0.8  # of the ring's fine detail, added to the drawing as noise (a flat drawing read as plastic)


def draw_mouth(
    frame: np.ndarray,
    points: np.ndarray,
    clip: tuple[int, int, int, int],
    own_opening: float,
    own: OwnMouth | None = None,
    strength: float = 1.0,
) -> bool:
    """Draws the inside of the mouth into `frame` inside the driven inner lips (`points`, output pixels), within
    `clip` (x0, y0, x1, y1); own_opening: the portrait's inner-lip gap at rest over its mouth width; own: its
    own mouth, whose teeth a smiling portrait keeps (carry_own_teeth; None: drawn teeth only); strength: 0…1,
    how much of it is laid over what is there. Returns whether anything was drawn."""
    p = np.asarray(points, np.float64)
    inner = p[INNER_LIP]
    width = float(np.linalg.norm(inner[4] - inner[0]))
    gap = opening(p)
    carried = carried_share(own_opening) if own else 0.0
    strength = float(np.clip(strength, 0.0, 1.0))
    fade = open_fade(gap) * past_own_inside(gap, width, own_opening, carried) * strength
    if fade <= 0.0 or width < 4.0:
        return False
    feather = feather_of(width)
    x0, y0, x1, y1 = mouth_box(inner, clip, int(np.ceil(3 * feather)) + 2)
    ring = ring_box(p, clip)
    if x1 - x0 < 3 or y1 - y0 < 3 or ring is None:
        return False
    geometry = mouth_frame(inner - (x0, y0), (y1 - y0, x1 - x0))
    drawn, coverage = inside(geometry, teeth=1.0 - carried)
    drawn = cv2.transform(drawn, colour_map(CAMERA_RING, ring_stats(frame, p, ring)))  # float32, unclipped
    drawn = cv2.GaussianBlur(drawn, (0, 0), SOFTEN)
    region = frame[y0:y1, x0:x1]
    ring_mask = np.ones((ring[3] - ring[1], ring[2] - ring[0]), np.uint8)
    cv2.fillPoly(ring_mask, [np.rint(inner - ring[:2]).astype(np.int32)], (0,))
    grain = GRAIN * detail(np.ascontiguousarray(frame[ring[1] : ring[3], ring[0] : ring[2]]), ring_mask)
    if grain > 0:
        # the same grain every frame (a fixed seed), so it moves with the mouth rather than crawling over it
        noise = np.random.default_rng(0).standard_normal(drawn.shape[:2]).astype(np.float32) * np.float32(grain)
        drawn = drawn + noise[..., None]
    alpha = cv2.GaussianBlur(coverage, (0, 0), feather) * np.float32(fade)
    patch = np.clip(drawn, 0, 255).astype(np.uint8)
    cv2.blendLinear(patch, region, alpha, 1 - alpha, dst=region)
    if carried > 0 and own is not None:
        carry_own_teeth(region, geometry, coverage, own, carried * strength)
    return True


def past_own_inside(gap: float, width: float, own_opening: float, carried: float) -> float:
    """0…1: how far a mouth that is not the portrait's own (the drawing, the driver's) fades in inside driven
    inner lips `gap` pixels apart and `width` wide, the portrait's own gap over width at rest being
    `own_opening`: as the warp stretches the own inside past STRETCH (STRETCH_CARRIED where its teeth are
    `carried`, 0…1: carried_share)."""
    stretch = gap / max(width, 1e-6) / max(own_opening, CLOSED_OPENING)
    start, end = (a + (b - a) * carried for a, b in zip(STRETCH, STRETCH_CARRIED, strict=True))
    return float(np.clip((stretch - start) / (end - start), 0.0, 1.0))


def own_inside_share(own_opening: float) -> float:
    """0…1: how far a portrait whose inner-lip gap at rest is `own_opening` of its mouth's width has an inside of
    its own to show (OWN_INSIDE): a closed mouth has none, parted lips their shadow, a smile its teeth."""
    return float(np.clip((own_opening - OWN_INSIDE[0]) / (OWN_INSIDE[1] - OWN_INSIDE[0]), 0.0, 1.0))


@dataclass(frozen=True)
class OwnMouth:
    """The portrait's own mouth, where draw_mouth reads its teeth: the moved image's source (H×W×3 uint8 RGB,
    the portrait's pixels as the full-resolution warp samples them), the portrait's 68×2 landmarks in those
    pixels, and where its teeth part (own_teeth_split)."""

    source: np.ndarray
    points: np.ndarray
    split: float


def carried_share(own_opening: float) -> float:
    """0…1: how far a portrait whose inner-lip gap at rest is `own_opening` of its mouth's width keeps its own
    teeth carried by its lips (CARRIED)."""
    rise = (own_opening - CARRIED[0]) / (CARRIED[1] - CARRIED[0])
    fall = (CARRIED[3] - own_opening) / (CARRIED[3] - CARRIED[2])
    return float(np.clip(min(rise, fall), 0.0, 1.0))


def carry_own_teeth(region: np.ndarray, frame: MouthFrame, coverage: np.ndarray, own: OwnMouth, carried: float) -> None:
    """Lays the portrait's own teeth where its lips carry them, into `region` (the mouth's box of the output,
    h×w×3 uint8 RGB, the drawing laid; in place; `frame`: its pixels in the driven lips' frame). The upper teeth
    (`own.split` of its own gap, from the upper lip) hang from the driven upper lip and the rest rise from the
    lower one (if MIN_LOWER_SHARE or more), each read from the portrait at its own size against its own lip,
    along the mouth at the same share s of its width: the opening between them is the drawing's dark, and the
    teeth never stretch. coverage: where the inside lies (h×w float32 0…1); carried: 0…1, carried_share."""
    inner = np.asarray(own.points, np.float64)[INNER_LIP]
    corner, width, along, down = _axes(inner)
    rest_upper, rest_lower = (
        lip_curve(inner, side, corner, along, down, width, frame.table) for side in (UPPER_INNER, LOWER_INNER)
    )
    scale = np.float32(width / frame.width)  # portrait pixels per output pixel, along the mouth
    upper, lower = frame.upper, frame.lower
    rest_upper, rest_gap = frame.per_pixel(rest_upper), frame.per_pixel(np.maximum(rest_lower - rest_upper, 0.0))
    below_upper, above_lower = frame.t - upper, lower - frame.t
    carried_upper = rest_gap * np.float32(own.split) / scale  # output pixels each lip carries
    lower_share = 1.0 - own.split if 1.0 - own.split >= MIN_LOWER_SHARE else 0.0
    carried_lower = rest_gap * np.float32(lower_share) / scale
    # the rest's distance below its upper lip that each output pixel shows
    v = (
        np.where(below_upper <= carried_upper, below_upper * scale, rest_gap - np.maximum(above_lower, 0.0) * scale)
        + rest_upper
    )
    u = frame.s * np.float32(width)
    xs = np.float32(corner[0]) + u * np.float32(along[0]) + v * np.float32(down[0])
    ys = np.float32(corner[1]) + u * np.float32(along[1]) + v * np.float32(down[1])
    teeth = cv2.remap(own.source, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    band = np.maximum(_edge(carried_upper - below_upper, 1.0), _edge(carried_lower - above_lower, 1.0))
    alpha = band * coverage * np.float32(carried)
    cv2.blendLinear(teeth, region, alpha, 1 - alpha, dst=region)


def unpaint_own_inside(paint: np.ndarray, points: np.ndarray, own_opening: float) -> np.ndarray:
    """G's paint (S×S×4 uint8 RGBA, crop pixels) with its coverage taken off inside the driven inner lips
    (`points`, 68×2 crop pixels) as far as the portrait's own mouth is open at rest (OWN_INSIDE): there the warp
    shows the portrait's own inside, its teeth only stretched, where G's paint washed them to a pale ghost
    (Eileen Collins' smile opened 0.3, Obama's 0.6); the drawing takes over as the stretch grows. A new array,
    or `paint` itself where nothing changes."""
    keep = own_inside_share(own_opening)
    if keep <= 0.0:
        return paint
    inner = np.asarray(points, np.float64)[INNER_LIP]
    grown = inner.mean(0) + (inner - inner.mean(0)) * (1 + GROW)
    feather = feather_of(float(np.linalg.norm(inner[4] - inner[0])))
    x0, y0, x1, y1 = mouth_box(grown, (0, 0, paint.shape[1], paint.shape[0]), int(np.ceil(3 * feather)) + 1)
    if x1 <= x0 or y1 <= y0:
        return paint
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)  # only the mouth's box: 0.14 ms, the whole paint 0.62
    cv2.fillPoly(mask, [np.rint((grown - (x0, y0)) * 16).astype(np.int32)], (255,), lineType=cv2.LINE_AA, shift=4)
    taken = cv2.GaussianBlur(mask, (0, 0), feather).astype(np.float32) * np.float32(keep / 255)
    out = paint.copy()
    out[y0:y1, x0:x1, 3] = (paint[y0:y1, x0:x1, 3] * (1.0 - taken)).astype(np.uint8)
    return out


def own_teeth_split(crop: np.ndarray, points: np.ndarray) -> float:
    """Where the portrait's own open mouth parts (crop: S×S×3 uint8 RGB, its aligned face; points: its 68×2
    landmarks, crop pixels): the share of its inner-lip gap, from the upper lip, that the upper teeth take
    (carry_own_teeth's split): the darkest row between the teeth in the middle of the mouth where one is
    clearly darker than the teeth (the gap between upper and lower teeth), else SPLIT_RANGE[1] (upper teeth
    fill the smile). DEFAULT_SPLIT for a mouth too small or too closed to read."""
    inner = np.asarray(points, np.float64)[INNER_LIP]
    x0, y0, x1, y1 = mouth_box(inner, (0, 0, crop.shape[1], crop.shape[0]), 1)
    if x1 - x0 < 8 or y1 - y0 < 3:
        return DEFAULT_SPLIT
    geometry = mouth_frame(inner - (x0, y0), (y1 - y0, x1 - x0))
    upper, lower = geometry.upper, geometry.lower
    gap = lower - upper
    depth = (geometry.t - upper) / np.maximum(gap, np.float32(1e-3))
    middle = (np.abs(geometry.s - 0.5) < 0.2) & (gap >= MIN_SPLIT_GAP) & (depth > 0) & (depth < 1)
    if middle.sum() < 20:
        return DEFAULT_SPLIT
    luma = cv2.cvtColor(np.ascontiguousarray(crop[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    bins = np.minimum((depth[middle] * SPLIT_BINS).astype(int), SPLIT_BINS - 1)
    values = luma[middle]
    profile = np.array([np.median(values[bins == b]) if (bins == b).any() else np.nan for b in range(SPLIT_BINS)])
    if np.isnan(profile).any():
        return DEFAULT_SPLIT
    centres = (np.arange(SPLIT_BINS) + 0.5) / SPLIT_BINS
    searched = (centres >= SPLIT_RANGE[0]) & (centres <= SPLIT_RANGE[1])
    darkest = int(np.flatnonzero(searched)[np.argmin(profile[searched])])
    if profile[darkest] > SPLIT_DARK * np.percentile(profile, 80):
        return SPLIT_RANGE[1]
    return float(centres[darkest])


def own_teeth_show(crop: np.ndarray, points: np.ndarray) -> float:
    """0…1: how clearly the portrait's own open mouth shows teeth (crop: S×S×3 uint8 RGB, its aligned face;
    points: its 68×2 landmarks, crop pixels): the brightest fifth of the inside of its inner lips lighter than
    its lips' median by TEETH_SHOW luma levels. 0 for a mouth too closed to read (MIN_TEETH_PIXELS)."""
    p = np.rint(np.asarray(points, np.float64)).astype(np.int32)
    inner, outer = np.zeros(crop.shape[:2], np.uint8), np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(inner, [p[INNER_LIP]], (1,))
    cv2.fillPoly(outer, [p[OUTER_LIP]], (1,))
    lips = (outer > 0) & (inner == 0)
    if int(inner.sum()) < MIN_TEETH_PIXELS or not lips.any():
        return 0.0
    luma = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY).astype(np.float32)
    lighter = float(np.percentile(luma[inner > 0], 80) - np.median(luma[lips]))
    return float(np.clip((lighter - TEETH_SHOW[0]) / (TEETH_SHOW[1] - TEETH_SHOW[0]), 0.0, 1.0))


def own_opening(points: np.ndarray) -> float:
    """A face's inner-lip gap over its inner mouth's width (68×2 points, any pixels): draw_mouth's own_opening."""
    p = np.asarray(points, np.float64)
    return opening(p) / max(float(np.linalg.norm(p[64] - p[60])), 1e-6)


@dataclass(frozen=True)
class MouthFrame:
    """A box's pixels in the inner lips' frame: s (h×w float32, along the mouth, 0 at the first inner corner, 1
    at the other), t (h×w float32, pixels down from the corners' line), the mouth's width (pixels), the lips'
    curves on a table of s (what depends on s alone is computed there and looked up per pixel: about a tenth of
    the arithmetic, in float32), and looked up: upper and lower (h×w float32, t of each lip at the pixel's s)."""

    s: np.ndarray
    t: np.ndarray
    width: float
    table: np.ndarray
    upper_s: np.ndarray
    lower_s: np.ndarray
    upper: np.ndarray
    lower: np.ndarray

    def per_pixel(self, values: np.ndarray) -> np.ndarray:
        return np.interp(self.s, self.table, values).astype(np.float32)


def mouth_frame(inner: np.ndarray, shape: tuple[int, int]) -> MouthFrame:
    """The MouthFrame of an h×w box (`shape`) holding inner lips `inner` (8×2, the 68-point layout's 60–67, in
    the box's pixels)."""
    h, w = shape
    corner, width, along, down = _axes(inner)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + np.float32(0.5)  # pixel centres
    rel_x, rel_y = xs - np.float32(corner[0]), ys - np.float32(corner[1])
    s = (rel_x * np.float32(along[0]) + rel_y * np.float32(along[1])) / np.float32(width)
    t = rel_x * np.float32(down[0]) + rel_y * np.float32(down[1])
    table = np.linspace(float(s.min()), float(s.max()), max(16, int(np.ceil(2 * width))))
    upper_s, lower_s = (
        lip_curve(inner, side, corner, along, down, width, table) for side in (UPPER_INNER, LOWER_INNER)
    )
    upper, lower = (np.interp(s, table, curve).astype(np.float32) for curve in (upper_s, lower_s))
    return MouthFrame(s, t, width, table, upper_s, lower_s, upper, lower)


def _axes(inner: np.ndarray) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Inner lips (8×2 pixels) → their first corner, the width between the corners, and the unit axes along the
    mouth and down it (from the upper lip to the lower, whichever way the face is turned)."""
    corner, far = inner[0], inner[4]
    width = max(float(np.linalg.norm(far - corner)), 1e-6)
    along = (far - corner) / width
    down = np.array([-along[1], along[0]])
    if (inner[[5, 6, 7]].mean(0) - inner[[1, 2, 3]].mean(0)) @ down < 0:
        down = -down
    return corner, width, along, down


def inside(frame: MouthFrame, teeth: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The drawn inside (h×w×3 float32 RGB, camera colours) of the mouth whose box and lips `frame` holds, and
    where it lies (h×w float32 0…1, anti-aliased: between the two lips' curves). teeth: 0…1, how much of the
    drawn upper teeth show (none where the portrait's own are carried by its lips)."""
    s, t, width, table = frame.s, frame.t, frame.width, frame.table
    upper_s, lower_s = frame.upper_s, frame.lower_s
    gap_s = np.maximum(lower_s - upper_s, 1e-3)
    front_s = np.clip(1.0 - ((table - 0.5) / 0.5) ** 2, 0.0, 1.0)  # 1 in the middle of the mouth, 0 at its corners
    # teeth: lit in front, fading into the dark at the sides; a faint line between neighbours (each a pixel)
    parting_s = 1.0 - 0.08 * np.exp(-(((((table - 0.5) / TOOTH + 0.5) % 1.0 - 0.5) * TOOTH * width) ** 2))
    light_s = (0.2 + 0.8 * front_s**1.5) * parting_s
    # the rows of teeth end short of the corners (the dark there is the cheeks' inside) and shorten to them
    row_s = _edge((TEETH_SPAN - np.abs(table - 0.5)) * width, 0.04 * width)
    teeth_s = np.minimum(0.5 * gap_s, UPPER_TEETH * width) * front_s**0.6 * row_s * teeth
    upper, lower = frame.upper, frame.lower
    front, light, upper_height = map(frame.per_pixel, (front_s, light_s, teeth_s))
    gap = np.maximum(lower - upper, np.float32(1e-3))
    below_upper, above_lower = t - upper, lower - t
    depth = np.clip(below_upper / gap, 0.0, 1.0)  # 0 at the upper lip, 1 at the lower
    # the cavity: darkest at the back (the middle, half way down), lighter towards the lips
    back = front * np.sqrt(1.0 - np.abs(depth - np.float32(0.5)) * np.float32(2.0))
    out = CAVITY.astype(np.float32) + (BACK - CAVITY).astype(np.float32) * back[..., None]
    # the tongue, low at the back
    tongue = ((s - np.float32(0.5)) / np.float32(0.3)) ** 2 + (
        (t - lower + np.float32(0.12) * gap) / (np.float32(0.35) * gap)
    ) ** 2
    tongue_alpha = _edge(1.0 - tongue, 0.15)
    tongue_colour = TONGUE.astype(np.float32) * (0.55 + 0.45 * np.clip(1.0 - tongue, 0.0, 1.0))[..., None]
    out += (tongue_colour - out) * tongue_alpha[..., None]
    upper_alpha = _edge(upper_height - below_upper, 1.5) * (upper_height > 0.5)
    # darker under the lip (the gum's shadow) and at the cutting edge, lightest between
    along_tooth = np.clip(below_upper / np.maximum(upper_height, np.float32(1e-3)), 0.0, 1.0)
    edge_shade = 0.8 + 0.2 * np.sin(np.float32(np.pi) * np.clip(0.15 + along_tooth, 0.0, 1.0))
    out += (TEETH.astype(np.float32) * (light * edge_shade)[..., None] - out) * upper_alpha[..., None]
    # the lips' shadow on what lies just inside them
    inward = np.minimum(below_upper, above_lower)
    shadow = 1.0 - 0.35 * np.exp(-inward.clip(0.0) / np.float32(1.2))
    coverage = _edge(inward, 1.0) * _edge(np.minimum(s, 1.0 - s) * np.float32(width), 1.0)
    return (out * shadow[..., None]).astype(np.float32), coverage.astype(np.float32)


def lip_curve(
    inner: np.ndarray,
    side: tuple[int, ...],
    corner: np.ndarray,
    along: np.ndarray,
    down: np.ndarray,
    width: float,
    s: np.ndarray,
) -> np.ndarray:
    """One inner lip (side: its three points' indices in the 68-point layout) as a smooth curve through the
    corners and those points, across the mouth (pixels down from the corners' line) at each `s`: the cubic
    Hermite spline through the five knots with Catmull-Rom slopes (the polygon through them drew a six-sided
    mouth; a polynomial through them could swing between close knots)."""
    knots = inner[[0, *[i - 60 for i in side], 4]] - corner
    ks, kt = knots @ along / width, knots @ down
    order = np.argsort(ks)
    ks, kt = ks[order], kt[order]
    if np.min(np.diff(ks)) < 1e-3:  # knots on top of each other (a degenerate track): straight pieces
        return np.interp(s, ks, kt)
    slopes = np.gradient(kt, ks)  # centred differences inside, one-sided at the two ends
    at = np.clip(s, ks[0], ks[-1])
    i = np.clip(np.searchsorted(ks, at) - 1, 0, len(ks) - 2)
    step = ks[i + 1] - ks[i]
    u = (at - ks[i]) / step
    h00, h10, h01, h11 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u, -2 * u**3 + 3 * u**2, u**3 - u**2
    return h00 * kt[i] + h10 * step * slopes[i] + h01 * kt[i + 1] + h11 * step * slopes[i + 1]


def _edge(distance: np.ndarray, softness: float) -> np.ndarray:
    """0…1 coverage from a signed distance in pixels (> 0 inside), over `softness` pixels: anti-aliased."""
    return np.clip(distance / softness + 0.5, 0.0, 1.0)
