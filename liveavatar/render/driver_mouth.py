"""The driver's own mouth, at that very frame, inside the avatar's open lips, in the portrait's colours.

The generator paints the inside of an open mouth from ψ alone (a 128-px paint, 1.6 % of its training frames
opened wide): a flat pink blob without teeth. Yet at every live frame the real inside of a mouth is in front
of the camera: the driver's. Its teeth, tongue and shadow are not identity (the lips and face around them
are, and those stay the portrait's), and their shape and timing are exactly what the avatar's mouth does.
So, per frame, at the output's resolution:

1. the driver's inner lips (68-point layout 60–67, and the mouth corners 48/54, camera pixels of this very
   frame) are mapped onto the avatar's driven inner lips (output pixels) by the least-squares affine map;
2. the driver's mouth is cut out of the camera frame by that map, into a box around the avatar's mouth;
3. its colours are moved from the driver's light and skin to the portrait's: in YCrCb, each channel is
   re-centred and re-scaled from the driver's lips-and-skin ring around the mouth to the same ring of the
   output (the moved portrait and G's paint), chroma scaled no more than the rings' saturation differs, and
   nudged so that the driver's greys (its white teeth) land between grey and the output ring's hue (one
   affine colour matrix, since YCrCb is linear in RGB). A grey portrait has no chroma there, so the mouth
   turns grey;
   a dark painting darkens it; the teeth stay as much brighter than the lips as the portrait's contrast allows,
   and where that takes them past white their highlights are bent under it, not cut off (bend_into_range);
4. its sharpness is moved to the portrait's the same way: the fine detail (luma less its 1-px Gaussian blur)
   of the lips-and-skin ring, the driver's cut out and recoloured against the output's there, sharpens a
   camera's soft mouth laid on a crisp photo or a brushy painting (a webcam's, enlarged onto a close-up,
   carried a third of the detail around it) and softens a sharp one laid on a soft painting;
5. it is laid inside the avatar's inner-lip polygon, feathered, faded in with the lips' gap (a closed mouth
   has nothing inside to show).

Where the driver's mouth is closed while the avatar's is open (a portrait smiling with teeth, driven at rest)
there is nothing to cut out: nothing is laid and G's paint stays. Without a camera (`pose`, the scripted
demo) the Composer draws a mouth instead (drawn_mouth.py).

Boundaries: the frame and the camera image are H×W×3 uint8 RGB; landmarks 68×2 float32 (x, y) pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

INNER_LIP = slice(60, 68)  # right corner, upper lip (61–63), left corner, lower lip (65–67)
OUTER_LIP = slice(48, 60)
UPPER_INNER, LOWER_INNER = (61, 62, 63), (67, 66, 65)  # facing pairs across the opening
CORNERS = (48, 54)
# The opening (mean gap between the facing inner-lip points, output pixels) over which the mouth fades in:
# under a pixel there is no inside to show, and the fade keeps a mouth that starts to open from popping.
OPEN_FROM_PX, OPEN_FULL_PX = 1.0, 3.0
DRIVER_OPEN_PX = 1.5  # the driver's own gap (camera px) below which there is nothing to cut out
MAX_STRETCH = 4.0  # the affine may enlarge the driver's opening at most this much (more shows only lip)
FEATHER = 0.035  # the mask's blur, a fraction of the avatar's mouth width
# The inner-lip polygon grown about its centre by this fraction: the lips' inner edge, which the 32×32 spline
# smears when it stretches closed lips open, comes from the driver too (self-reenactment mouth-box SSIM 0.78 →
# 0.79 at 0.1 and 0.81 at 0.25; past ~0.15 the driver's lip shape starts to replace the portrait's).
GROW = 0.12
RING = 0.35  # the colour reference: the outer lips' box grown by this fraction of the mouth width
RING_SAMPLES = 40  # the ring's statistics are read on about this many pixels across its shorter side
LUMA_GAIN = (0.5, 1.6)  # bounds of the driver → portrait contrast change (a flat ring must not blow it up)
CHROMA_GAIN = (0.0, 1.5)
# Detail: luma less its Gaussian blur of DETAIL_SIGMA output pixels, its standard deviation over the ring.
# The driver's is moved to the output's when they differ by more than DETAIL_SLACK: sharpened (an unsharp
# mask of the same blur, amount the ratio less 1 and at most MAX_SHARPEN, which takes a soft mouth's detail
# ~1.6×; at 2 a talking clip's compressed teeth still looked right by eye, so 1.5 leaves a margin for noisier
# webcams) or softened (the first of SOFTEN_SIGMAS that brings it down to the output's).
DETAIL_SIGMA = 1.0
DETAIL_SLACK = 0.15
MAX_SHARPEN = 1.5
SOFTEN_SIGMAS = (0.6, 0.9, 1.3, 1.8)
# The blur (output pixels) whose residue MouthCut.softness compares: a blur that took a mouth's teeth shows at
# this scale, where a camera's grain and compression do not (at 1 px a self-reenacted clip's first frame, an
# I-frame, read 3× as sharp as its later frames).
SOFTNESS_SIGMA = 3.0
# The colour move raises the teeth as far as the portrait's contrast asks, and on a contrasty or bright portrait
# that is past white: driven by a clip that bares its teeth, 4.5-17 % of the laid mouth of Grace Hopper, Eileen
# Collins, the Girl with a Pearl Earring, Ducreux and Van Gogh was cut off at 255, flat white blocks where the
# teeth had shading (Scarlett Johansson's close-up 12 %). So where the mouth's FIT_RANGE percentile (its own
# pixels, on about FIT_SAMPLES of them) passes 255 after the move and the sharpening, the light past
# HIGHLIGHT_KNEE is bent under white (_shoulder: slope 1 at the knee, the percentile lands on 255): 1.0-2.4 %
# left at 255. A knee of 225 kept the teeth brighter but left about twice as much flat white (1.1-5.1 %).
HIGHLIGHT_KNEE = 200.0
FIT_RANGE = 99.5
FIT_SAMPLES = 2000
SHOULDER_NEWTON = 8  # Newton steps for the shoulder's curvature: converged to float32 from its start


@dataclass(frozen=True)
class DriverFrame:
    """One camera frame and the driver's landmarks at that very frame (not smoothed: the mouth is cut out of
    this image and its light read by creases.py, so the points must be this image's). image: H×W×3 uint8 RGB;
    points: 68×2 float32 px."""

    image: np.ndarray
    points: np.ndarray


def opening(points: np.ndarray) -> float:
    """The mean gap between the facing inner-lip points (68×2 px), in those pixels."""
    p = np.asarray(points, np.float64)
    return float(np.mean(np.linalg.norm(p[list(UPPER_INNER)] - p[list(LOWER_INNER)], axis=1)))


def lip_map(driver: np.ndarray, avatar: np.ndarray) -> np.ndarray | None:
    """The 2×3 float64 least-squares affine map from the driver's inner lips and mouth corners (camera px) onto
    the avatar's (output px), or None when it would only stretch a closed mouth open."""
    index = [*range(60, 68), *CORNERS]
    src = np.asarray(driver, np.float64)[index]
    dst = np.asarray(avatar, np.float64)[index]
    design = np.hstack([src, np.ones((len(index), 1))])
    solution, *_ = np.linalg.lstsq(design, dst, rcond=None)
    matrix = solution.T  # 2×3
    singular = np.linalg.svd(matrix[:, :2], compute_uv=False)
    if not np.all(np.isfinite(matrix)) or singular[-1] <= 1e-6 or singular[0] / singular[-1] > MAX_STRETCH:
        return None
    return matrix


def open_fade(gap: float) -> float:
    """0…1: how far a mouth whose facing inner-lip points are `gap` output pixels apart is faded in."""
    return float(np.clip((gap - OPEN_FROM_PX) / (OPEN_FULL_PX - OPEN_FROM_PX), 0.0, 1.0))


def feather_of(width: float) -> float:
    """The laid mouth's edge blur (output pixels) for a mouth `width` pixels wide between its inner corners."""
    return max(0.6, FEATHER * width)


def mouth_box(points: np.ndarray, clip: tuple[int, int, int, int], pad: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the box of `points` (K×2 pixels) grown by `pad` pixels, inside `clip`."""
    x0, y0 = (max(c, int(np.floor(v)) - pad) for v, c in zip(points.min(0), clip[:2], strict=True))
    x1, y1 = (min(c, int(np.ceil(v)) + pad + 1) for v, c in zip(points.max(0), clip[2:], strict=True))
    return x0, y0, x1, y1


@dataclass(frozen=True)
class MouthCut:
    """The driver's mouth cut out onto the avatar's and recoloured, ready to lay (cut_mouth): patch (h×w×3 uint8
    RGB) and alpha (h×w float32 0…1, the feathered inner lips times the opening's fade) for the output's box
    (x0, y0, x1, y1); softness: the output's detail (at SOFTNESS_SIGMA) on the lips and skin around the mouth
    over the cut's there, before its sharpness is moved to the output's: how much softer the driver's mouth
    is than the portrait around it (None where it was not asked for)."""

    patch: np.ndarray
    alpha: np.ndarray
    box: tuple[int, int, int, int]
    softness: float | None


def cut_mouth(
    frame: np.ndarray,
    avatar_points: np.ndarray,
    mouth: DriverFrame,
    clip: tuple[int, int, int, int],
    read_softness: bool = False,
) -> MouthCut | None:
    """The driver's mouth (steps 1–4 of the module docstring) for the avatar's inner lips in `frame` (the output,
    H×W×3 uint8 RGB, read only). avatar_points: the avatar's driven 68×2 landmarks in output pixels; clip: (x0,
    y0, x1, y1) output pixels that may change (the portrait's rectangle); read_softness: whether to read
    MouthCut.softness (only a portrait whose own teeth may be kept needs it). None where there is nothing to
    lay."""
    fade = open_fade(opening(avatar_points))
    if fade <= 0.0 or opening(mouth.points) < DRIVER_OPEN_PX:
        return None
    matrix = lip_map(mouth.points, avatar_points)
    if matrix is None:
        return None
    inner = np.asarray(avatar_points, np.float64)[INNER_LIP]
    width = float(np.linalg.norm(inner[0] - inner[4]))
    feather = feather_of(width)
    x0, y0, x1, y1 = mouth_box(inner, clip, int(np.ceil(3 * feather + GROW * width)) + 2)
    ring = ring_box(avatar_points, clip)
    if x1 - x0 < 2 or y1 - y0 < 2 or ring is None:
        return None
    ring_in_box = ring_box(mouth.points, (0, 0, mouth.image.shape[1], mouth.image.shape[0]))
    if ring_in_box is None:
        return None
    ring_out = ring_stats(frame, avatar_points, ring)
    ring_in = ring_stats(mouth.image, mouth.points, ring_in_box)
    # the driver's mouth and the ring around it, cut out onto the avatar's (output pixels of the box holding
    # both) and recoloured, so its detail is compared where the output's is
    bx0, by0, bx1, by1 = min(x0, ring[0]), min(y0, ring[1]), max(x1, ring[2]), max(y1, ring[3])
    to_box = matrix.copy()
    to_box[:, 2] -= (bx0, by0)
    cut = cv2.warpAffine(
        mouth.image, to_box, (bx1 - bx0, by1 - by0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    grown = inner.mean(0) + (inner - inner.mean(0)) * (1 + GROW)
    cut = cv2.transform(cut.astype(np.float32), colour_map(ring_in, ring_out))  # float32, unclipped
    around = np.zeros(cut.shape[:2], np.uint8)
    around[ring[1] - by0 : ring[3] - by0, ring[0] - bx0 : ring[2] - bx0] = 1
    cv2.fillPoly(around, [np.rint(inner - (bx0, by0)).astype(np.int32)], (0,))
    reference = np.ascontiguousarray(frame[by0:by1, bx0:bx1])
    softness = _softness(reference, cut, around, grown - (bx0, by0), feather) if read_softness else None
    cut = match_detail(cut, reference, around)  # still float: a sharpened tooth's edge is bent, not cut off
    patch = np.ascontiguousarray(cut[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0])
    inside = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(inside, [np.rint(grown - (x0, y0)).astype(np.int32)], (1,))
    step = max(1, int(np.sqrt(patch.shape[0] * patch.shape[1] / FIT_SAMPLES)))  # statistics: a sample tells
    bend_into_range(patch, patch[::step, ::step][inside[::step, ::step] > 0])
    patch = cv2.convertScaleAbs(np.maximum(patch, 0, out=patch))  # rounded, saturated (never negative: no abs)
    size = (x1 - x0, y1 - y0)
    mask = np.zeros((size[1], size[0]), np.uint8)
    polygon = np.rint((grown - (x0, y0)) * 16).astype(np.int32)  # 4 fractional bits: sub-pixel edges
    cv2.fillPoly(mask, [polygon], (255,), lineType=cv2.LINE_AA, shift=4)
    alpha = cv2.GaussianBlur(mask, (0, 0), feather).astype(np.float32) * np.float32(fade / 255)
    return MouthCut(patch, alpha, (x0, y0, x1, y1), softness)


def _shoulder(x: np.ndarray, knee: float, reach: float, room: float) -> np.ndarray:
    """x (float32) past `knee` bent so that `reach` past it lands `room` past it (room < reach): slope 1 at the
    knee, y = knee + room·(1 − e^(−b·t))/(1 − e^(−b)) at t = (x − knee)/reach within 0…1, b solving the slope
    (so the knee itself where x < knee). A new array, worked on in place (a few passes over a mouth's box)."""
    a = reach / room  # the curve's slope at the knee, in t: > 1
    b = 2.0 * (a - 1)  # Newton on b/(1 − e^(−b)) = a, from a start close for a near 1
    for _ in range(SHOULDER_NEWTON):
        e = np.exp(-b)
        b = max(b - (b / (1 - e) - a) * (1 - e) ** 2 / (1 - e - b * e), 1e-6)
    y = np.subtract(x, np.float32(knee), dtype=np.float32)
    np.clip(y, 0.0, np.float32(reach), out=y)
    np.exp(np.multiply(y, np.float32(-b / reach), out=y), out=y)
    scale = room / (1 - np.exp(-b))
    np.multiply(y, np.float32(-scale), out=y)
    return np.add(y, np.float32(knee + scale), out=y)


def bend_into_range(image: np.ndarray, inside: np.ndarray) -> None:
    """Bends `image`'s highlights (h×w×3 float32 RGB, a moved mouth, unclipped; changed in place) under white
    rather than leaving them to be cut off, where the mouth's own pixels (`inside`, K×3) run past it (their
    FIT_RANGE percentile lands on 255): teeth whose light the colour move took past 255 keep their shading
    instead of a flat white block. A mouth within range is left as it is, and so are shadows past black: a
    mouth's cavity is black (bent too, it greyed, and both trackers read the openings a little smaller)."""
    if not len(inside):
        return
    high = float(np.percentile(inside, FIT_RANGE))
    if high > 255:
        # the shoulder is the knee itself below it and, bending away with slope 1, under x above it: the lower
        # of the two is the bent value everywhere (masked writes took 2-3x as long)
        np.minimum(image, _shoulder(image, HIGHLIGHT_KNEE, high - HIGHLIGHT_KNEE, 255 - HIGHLIGHT_KNEE), out=image)


def _softness(reference: np.ndarray, cut: np.ndarray, around: np.ndarray, grown: np.ndarray, feather: float) -> float:
    """MouthCut.softness of the cut driver's mouth and ring (`cut`, h×w×3 float32 RGB) against the output's
    (`reference`, the same box, uint8 RGB): read on the lips and skin alone, the ring (`around`, h×w uint8) less
    all the mouth may be laid over (the inner lips `grown`, K×2 box pixels, and `feather`ed), where the output
    still shows the warp's own inside (a smile's stretched teeth), whose edges are not the portrait's
    sharpness. 1 where no skin is left."""
    outside = around.copy()
    cv2.fillPoly(outside, [np.rint(grown).astype(np.int32)], (0,))
    reach = 2 * max(1, int(np.ceil(2 * feather))) + 1
    skin = cv2.erode(outside, np.ones((reach, reach), np.uint8))
    if not skin.any():
        return 1.0
    return detail(reference, skin, SOFTNESS_SIGMA) / max(detail(cut, skin, SOFTNESS_SIGMA), 1e-3)


def lay_cut(frame: np.ndarray, cut: MouthCut, share: float = 1.0) -> None:
    """Lays `cut` into `frame` (in place), `share` (0…1) of it over what is there."""
    x0, y0, x1, y1 = cut.box
    region = frame[y0:y1, x0:x1]
    cover = cut.alpha * np.float32(np.clip(share, 0.0, 1.0))
    cv2.blendLinear(cut.patch, region, cover, 1 - cover, dst=region)


def transplant(
    frame: np.ndarray, avatar_points: np.ndarray, mouth: DriverFrame, clip: tuple[int, int, int, int]
) -> bool:
    """Lays the driver's mouth into `frame` (the output, H×W×3 uint8 RGB, in place) inside the avatar's inner
    lips (cut_mouth, then lay_cut whole). Returns whether anything was laid."""
    cut = cut_mouth(frame, avatar_points, mouth, clip)
    if cut is None:
        return False
    lay_cut(frame, cut)
    return True


def ring_box(points: np.ndarray, clip: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the outer lips' box (68×2 points) grown by RING of the mouth's width, inside `clip`;
    None when under 3 pixels either way."""
    outer = np.asarray(points, np.float64)[OUTER_LIP]
    grow = RING * float(np.linalg.norm(outer[0] - outer[6]))
    x0, y0 = (max(c, int(np.floor(v - grow))) for v, c in zip(outer.min(0), clip[:2], strict=True))
    x1, y1 = (min(c, int(np.ceil(v + grow)) + 1) for v, c in zip(outer.max(0), clip[2:], strict=True))
    return (x0, y0, x1, y1) if x1 - x0 >= 3 and y1 - y0 >= 3 else None


def ring_stats(image: np.ndarray, points: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """YCrCb mean and standard deviation (3 float64 each, 0–255 scale) of the lips and skin around a mouth: its
    ring_box, less the inside of the inner lips; read on every RING_STEP-th pixel of a large box (statistics,
    not a picture: a quarter of the pixels tell the same)."""
    p = np.asarray(points, np.float64)
    x0, y0, x1, y1 = box
    step = max(1, min(x1 - x0, y1 - y0) // RING_SAMPLES)
    keep = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    cv2.fillPoly(keep, [np.rint(p[INNER_LIP] - (x0, y0)).astype(np.int32)], (0,))
    ycc = cv2.cvtColor(np.ascontiguousarray(image[y0:y1:step, x0:x1:step]), cv2.COLOR_RGB2YCrCb)
    mean, std = cv2.meanStdDev(ycc, mask=np.ascontiguousarray(keep[::step, ::step]))
    return mean.ravel(), std.ravel()


# RGB → YCrCb (BT.601 full range, OpenCV's order: Y, Cr, Cb), with Cr and Cb centred on 128
_TO_YCC = np.array([[0.299, 0.587, 0.114], [0.5, -0.418688, -0.081312], [-0.168736, -0.331264, 0.5]])
_YCC_OFFSET = np.array([0.0, 128.0, 128.0])
_FROM_YCC = np.linalg.inv(_TO_YCC)


def colour_map(source: tuple[np.ndarray, np.ndarray], target: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The 3×4 float64 RGB → RGB map (for cv2.transform) that moves colours from the source ring's YCrCb
    statistics to the target ring's: per channel (x − source mean)·gain + target mean, with gain the ratio of
    the standard deviations (luma within LUMA_GAIN; chroma within CHROMA_GAIN and no more than the rings'
    saturation ratio); the chroma then nudged so that a grey lands between grey and the target ring's hue.
    YCrCb is a linear map of RGB, so the whole move is one affine colour matrix."""
    (mean_in, std_in), (mean_out, std_out) = source, target
    gain = std_out / np.maximum(std_in, 1e-3)
    gain[0] = np.clip(gain[0], *LUMA_GAIN)
    # Chroma also scales with how saturated the two rings are: a black-and-white photo's ring still varies by a
    # few units (grain, a faint tint), enough of a ratio to keep a tongue visibly red on a grey face.
    saturation = np.hypot(*(mean_out[1:] - 128)) / max(float(np.hypot(*(mean_in[1:] - 128))), 1e-3)
    gain[1:] = np.clip(np.minimum(gain[1:], saturation), *CHROMA_GAIN)
    # Where the driver's greys (its teeth) land: tint = out − gain·in in (Cr, Cb) (in, out: the rings' chroma
    # offsets from grey). Moved to the nearest point between grey and the portrait ring's own hue: off that
    # segment it is another hue, and a portrait whose lips ring is as red as the driver's but yellower and
    # more varied (Cr gain 1.2) turned white teeth mint green (tint Cr −3, Cb −6.5).
    offset_in, offset_out = mean_in[1:] - 128, mean_out[1:] - 128
    tint = offset_out - gain[1:] * offset_in
    reach = float(offset_out @ offset_out)
    along = float(np.clip(tint @ offset_out / reach, 0.0, 1.0)) if reach > 1e-6 else 0.0
    nudge = np.concatenate([[0.0], along * offset_out - tint])
    # ycc = T·rgb + o;  ycc' = D·(ycc − m_in) + m_out + nudge;  rgb' = T⁻¹·(ycc' − o)
    linear = (_FROM_YCC * gain) @ _TO_YCC
    shift = _FROM_YCC @ (gain * (_YCC_OFFSET - mean_in) + mean_out + nudge - _YCC_OFFSET)
    return np.hstack([linear, shift[:, None]])


def detail(image: np.ndarray, mask: np.ndarray, sigma: float = DETAIL_SIGMA) -> float:
    """The standard deviation of an image's fine detail (luma less its `sigma`-px Gaussian blur) where `mask`
    (h×w uint8, the image's size) is non-zero. image: h×w×3 RGB, uint8 or float32 (0–255)."""
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    fine = luma - cv2.GaussianBlur(luma, (0, 0), sigma)
    return float(cv2.meanStdDev(fine, mask=mask)[1][0, 0])


def match_detail(image: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`image` (h×w×3 RGB, uint8 or float32) sharpened or softened so its detail over `mask` comes near
    `reference`'s (the same size, the same place): a new array of image's type, or `image` itself where they are
    within DETAIL_SLACK."""
    have, want = detail(image, mask), detail(np.ascontiguousarray(reference), mask)
    if have < 1e-3 or want < 1e-3 or abs(want / have - 1) <= DETAIL_SLACK:
        return image
    if want > have:
        amount = min(want / have - 1, MAX_SHARPEN)
        blurred = cv2.GaussianBlur(image, (0, 0), DETAIL_SIGMA)
        return cv2.addWeighted(image, 1 + amount, blurred, -amount, 0)  # uint8, saturated
    for sigma in SOFTEN_SIGMAS:
        softened = cv2.GaussianBlur(image, (0, 0), sigma)
        if detail(softened, mask) <= want:
            break
    return softened
