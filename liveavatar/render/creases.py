"""The driver's creases and shading around a moving face, laid on the portrait as a ratio of light.

The warp moves the portrait's pixels but cannot relight them: when the driver smiles the folds from nose to
mouth deepen, when the jaw drops a shadow forms under the lower lip and the chin's light changes, and the moved
portrait keeps the light of its rest pose (self-reenactment's mouth box stopped at SSIM 0.80 on that skin, the
real lips pasted in reached only 0.834). The driver's frame holds that change of light, at that very moment.
Liu, Shan & Zhang's expression ratio image (SIGGRAPH 2001) carries it over without the driver's skin: the
driver's frame over the driver's own neutral frame, both mapped onto the same geometry, is the change in light
the expression made; the skin's own colour (albedo) cancels in the ratio, so what multiplies into the portrait
is the crease, not the driver's face. Per frame:

1. on the driver's face in this frame (camera pixels, a grid of GRID cells across it): the neutral frame is
   mapped onto this frame's geometry piecewise-affinely, on the triangles of the 68 points and of points on
   the forehead above them (the same person a moment apart: small, well-posed maps), and the log of the two
   lumas' ratio taken, each blurred by FINE of the face's width within the face (so the face's edge does not
   darken it);
2. less its own broad blur (BROAD): a camera's exposure, a lamp, the head turning the face into shade are not
   expression, and the band-pass keeps them out; what is far darker or lighter than a crease (a hand, a lock
   of hair in front of the face) left out, and so is what is far darker than the skin at the face's sides in
   the neutral frame (hair hanging there, swaying); clamped (DARKEST, LIGHTEST: a crease is mostly a shadow),
   left out over the eyes (lids.py closes the portrait's own lids), inside the lips (driver_mouth.py lays the
   mouth there) and on the nose (its light moves with the head's turn, not the expression), faded in from the
   outline beside the cheeks (CONTOUR) and from the forehead's top; on the forehead laid only while the brows
   move (a frown's lines, a raised brow's furrows);
3. that field is moved onto the avatar's driven points (output pixels) by the same triangles, triangles that
   the avatar's pose turns over left out, enlarged to output pixels and multiplied into the frame's RGB.

Boundaries: frames H×W×3 uint8 RGB; landmarks 68×2 float32 (x, y) pixels.
"""

from __future__ import annotations

import cv2
import numpy as np

from liveavatar.render.driver_mouth import DriverFrame, mouth_box

GRID = 96  # the ratio's grid: at most this many cells across the face's box (a crease is wider than a cell)
FINE = 0.006  # the ratio's blur, a fraction of the face's width (jaw corner to jaw corner)
BROAD = 0.06  # the band-pass's broad blur, the same fraction: light that varies slower is not a crease
# Added to both lumas before the ratio: a camera's dark noise (a few levels in a shadow) must not read as a
# crease twice as dark.
DARK = 8.0
DARKEST = 0.5  # −log ratio at most this: a crease darkens the skin to 0.61× at most
# log ratio at most this (1.05×): a crease is a shadow, and where the driver's skin lights up it is mostly a
# highlight sliding over a cheek as the head moves, which laid on a matte portrait (a pencil drawing, a
# black-and-white photo) read as a shiny patch
LIGHTEST = 0.05
# Past these (the log ratio) the change is no crease but something in front of the face: a lock of hair
# swinging over the forehead, a hand (a deep frown's lines reach −0.3 to −0.6, locks of dark hair −0.8 to
# −1.5); left out, and TRUST cells around, over a ramp of TRUST_RAMP (a shade to DARKEST is laid whole).
OCCLUDED_DARK, OCCLUDED_LIGHT, TRUST_RAMP = -0.7, 0.7, 0.2
TRUST = 2  # cells
# Far darker than the face's skin (its median luma over the face) in the neutral frame, a cell at the face's
# sides (within CONTOUR of the cheeks' outline, or above the brows) is not skin: hair hanging in front of them
# (the tracker's outline runs under it) or a glasses frame's arm. Its strands sway between the neutral and
# this frame, and their ratio, within the occlusion test's range, was laid as dark streaks down the cheek (a
# driver whose long hair hangs beside her face: "tears" from the eye on Elizabeth Olsen and Audrey Hepburn).
# Hair that swings in later is the occlusion test's (darker only in this frame, it is as likely a dropped
# jaw's shade). A smile's folds, in a driver's deep shade, reach 0.35-0.42 of the face's median.
SKIN_DARKEST = 0.35
NO_CHANGE = 0.002  # |log gain| under this changes no pixel by half a level (255·0.002): not multiplied
EDGE = 0.02  # the fade around the left-out parts, a fraction of the face's width
# The fade in from the face's outline beside the cheeks, the same fraction: the cheeks' sides change their
# light as the head turns (one side into shade, the other into a lamp's highlight), not as a face moves.
CONTOUR = 0.25
# Left out, each polygon grown about its centre by this fraction: the eyes (a blink changes their light
# entirely; lids.py closes the portrait's own lids), the inner lips (driver_mouth.py lays the mouth there) and
# the nose, bridge to nostrils (its highlight slides as the head turns: a lit ring around the tip, seen on the
# Mona Lisa driven by a man who turned while smiling).
LEFT_OUT = ((range(36, 42), 0.6), (range(42, 48), 0.6), (range(60, 68), 0.0), (range(29, 36), 0.3))
# The forehead above the brows, outside the 68 points' hull: a frown's lines between the brows and a raised
# brow's furrows. Points above the brow points BROWS, each its height (outer eye corners' distances) up from
# it, square to the eyes' line: 0.45 in the middle stays below most hairlines. Taken once on a rest face (the
# neutral, the avatar's rest) and carried rigidly with the eye corners and the nose's bridge (SKULL), not with
# the brows: the skin under the hairline does not rise with them, so a raised brow stretches the triangles
# between and a furrow forms inside them, as on the face.
BROWS = (17, 19, 21, 22, 24, 26)
FOREHEAD = (0.25, 0.4, 0.45, 0.45, 0.4, 0.25)
SKULL = (27, 36, 39, 42, 45)
TOP = 0.15  # the fade in from the forehead's top edge (and the temples'), a fraction of the face's width
# −log ratio at most this above the brows: there a lock of hair or a brow's edge the points follow only
# roughly are likelier than in the face below, and a smear they leave is fainter (0.70×); a frown's lines between
# the brows reach about −0.3 to −0.45.
DARKEST_FOREHEAD = 0.35
# The forehead's creases are laid only as far as the brows have moved since the neutral (raised, lowered or drawn
# together: BROW_STILL to BROW_MOVED outer eye corners' distances): its furrows and a frown's lines come with
# the brows, while a lock of hair or a turn's shading there comes with anything.
BROW_STILL, BROW_MOVED = 0.01, 0.04

_triangulations: dict[bytes, np.ndarray] = {}


def _up(p: np.ndarray) -> np.ndarray:
    """Square to a face's eyes' line (68-point layout, pixels), away from the mouth (image y is down), as long as
    the outer eye corners' distance."""
    across = p[45] - p[36]
    return np.array([across[1], -across[0]])


def forehead(rest: np.ndarray) -> np.ndarray:
    """len(BROWS)×2 float64: the forehead's points above a rest face's 68×2 points (pixels)."""
    p = np.asarray(rest, np.float64)
    return p[list(BROWS)] + np.asarray(FOREHEAD)[:, None] * _up(p)


def with_forehead(points: np.ndarray, rest: np.ndarray, rest_forehead: np.ndarray) -> np.ndarray:
    """(68 + len(BROWS))×2 float64: a face's 68×2 points and its forehead's, carried from `rest` (that face's
    68×2 rest points, any pixels) and its forehead by the similarity that best takes rest's SKULL points onto
    this face's."""
    p, r = np.asarray(points, np.float64), np.asarray(rest, np.float64)
    z, w = (x[list(SKULL)] @ (1, 1j) for x in (p, r))
    a = np.vdot(w - w.mean(), z - z.mean()) / max(float(np.vdot(w - w.mean(), w - w.mean()).real), 1e-12)
    moved = a * (np.asarray(rest_forehead, np.float64) @ (1, 1j) - w.mean()) + z.mean()
    return np.vstack([p, np.stack([moved.real, moved.imag], 1)])


def triangles(points: np.ndarray) -> np.ndarray:
    """T×3 int indices: the Delaunay triangles of K×2 points (a rest face's 68 and its forehead's: the triangles
    then stay the same while the face moves). Cached per points."""
    key = np.asarray(points, np.float32).tobytes()
    found = _triangulations.get(key)
    if found is not None:
        return found
    p = np.asarray(points, np.float64)
    lo, hi = p.min(0) - 1, p.max(0) + 1
    subdiv = cv2.Subdiv2D(
        (int(np.floor(lo[0])), int(np.floor(lo[1])), int(np.ceil(hi[0] - lo[0])) + 1, int(np.ceil(hi[1] - lo[1])) + 1)
    )
    for x, y in p:
        subdiv.insert((float(x), float(y)))
    corners = np.asarray(subdiv.getTriangleList(), np.float64).reshape(-1, 3, 2)
    distance = np.linalg.norm(corners[:, :, None] - p[None, None], axis=3)  # triangles × 3 vertices × points
    index = np.argmin(distance, axis=2)  # vertex → point
    inside = np.all(np.min(distance, axis=2) < 1e-3, axis=1)  # the outer virtual vertices are no point
    found = np.ascontiguousarray(index[inside].astype(np.int32))
    if len(_triangulations) > 16:
        _triangulations.clear()
    _triangulations[key] = found
    return found


def _affines(tri: np.ndarray, source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle, the affine map from its corners in `target` onto its corners in `source` (T×6 float64, the
    2×3 matrix's rows), and which triangles are not degenerate in `target` (T bool)."""
    a, b, c = (target[tri[:, k]] for k in range(3))
    sa, sb, sc = (source[tri[:, k]] for k in range(3))
    u, v = b - a, c - a  # the target's edges; the map takes them onto the source's
    det = u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]
    usable = np.abs(det) > 1e-6
    inv = 1.0 / np.where(usable, det, 1.0)
    # inverse of the edge matrix [u v] (columns), then the source's edges times it
    i00, i01, i10, i11 = v[:, 1] * inv, -v[:, 0] * inv, -u[:, 1] * inv, u[:, 0] * inv
    su, sv = sb - sa, sc - sa
    m00, m01 = su[:, 0] * i00 + sv[:, 0] * i10, su[:, 0] * i01 + sv[:, 0] * i11
    m10, m11 = su[:, 1] * i00 + sv[:, 1] * i10, su[:, 1] * i01 + sv[:, 1] * i11
    t0 = sa[:, 0] - m00 * a[:, 0] - m01 * a[:, 1]
    t1 = sa[:, 1] - m10 * a[:, 0] - m11 * a[:, 1]
    return np.stack([m00, m01, t0, m10, m11, t1], 1), usable


def _masked_blur(image: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """The Gaussian blur of `image` over where `weight` (0/1 float32, its size) is set, not darkened where it
    is not: the blur of image·weight over the blur of weight."""
    total = cv2.GaussianBlur(weight, (0, 0), sigma)
    return cv2.GaussianBlur(image * weight, (0, 0), sigma) / np.maximum(total, 1e-4)


class _Grid:
    """A grid of cells over a box (x0, y0, x1, y1) of pixels, GRID cells (or fewer: at least a pixel each) over
    `span` pixels (the 68 points' larger side: the forehead adds cells, not coarser ones), laid as cv2.resize
    lays them: cell (i, j) has its centre at x0 + (i + 0.5)·step_x − 0.5 (likewise y)."""

    def __init__(self, box: tuple[int, int, int, int], span: float) -> None:
        self.box = box
        x0, y0, x1, y1 = box
        cells = max(1.0, span / GRID)
        self.width, self.height = int(np.ceil((x1 - x0) / cells)), int(np.ceil((y1 - y0) / cells))
        self.step = np.array([(x1 - x0) / self.width, (y1 - y0) / self.height])

    def to_cells(self, points: np.ndarray) -> np.ndarray:
        """Pixels (N×2) → cell coordinates (integral at cell centres)."""
        return (points - self.box[:2] + 0.5) / self.step - 0.5

    def triangle_of_cells(self, points: np.ndarray, tri: np.ndarray) -> np.ndarray:
        """height×width int32: which of the triangles (T×3 indices into `points`, pixels) covers each cell, −1
        for none (where triangles overlap, the later one)."""
        which = np.full((self.height, self.width), -1, np.int32)
        corners = np.rint(self.to_cells(points)[tri] * 16).astype(np.int32)
        for t, triangle in enumerate(corners):
            cv2.fillConvexPoly(which, triangle, (t,), shift=4)
        return which

    def moved(self, which: np.ndarray, maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's centre moved by its triangle's affine map (`maps`, T×6: _affines): cv2.remap's map_x and
        map_y (height×width float32; a cell no triangle covers is moved by the first one: its value is not
        used, the support leaves it out)."""
        m = maps.astype(np.float32)[np.maximum(which, 0)]  # height×width×6
        x, y = self.centres()
        return m[..., 0] * x + m[..., 1] * y + m[..., 2], m[..., 3] * x + m[..., 4] * y + m[..., 5]

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """The cells' centres in pixels: x (1×width) and y (height×1) float32, to broadcast."""
        x = np.arange(self.width, dtype=np.float32) * self.step[0] + (self.box[0] + self.step[0] / 2 - 0.5)
        y = np.arange(self.height, dtype=np.float32) * self.step[1] + (self.box[1] + self.step[1] / 2 - 0.5)
        return x[None], y[:, None]


def face_luma(frame: DriverFrame, points: np.ndarray, shrink: float) -> tuple[np.ndarray, np.ndarray]:
    """The luma (float32, 0–255) of the box around a driver's points (its 68 and its forehead's, pixels) grown
    by a tenth of its width, reduced `shrink` times (INTER_AREA: each sample the mean of the pixels it covers,
    no aliasing), and where a frame pixel (x, y) lands on it: (x, y)·scale + offset, as [scale_x, scale_y,
    offset_x, offset_y]."""
    h, w = frame.image.shape[:2]
    p = np.asarray(points, np.float64)
    x0, y0, x1, y1 = mouth_box(p, (0, 0, w, h), int(0.1 * float(np.ptp(p[:, 0]))) + 2)
    crop = np.ascontiguousarray(frame.image[y0:y1, x0:x1])
    size = (max(1, round((x1 - x0) / shrink)), max(1, round((y1 - y0) / shrink)))
    if shrink > 1:
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    scale = np.array([size[0] / (x1 - x0), size[1] / (y1 - y0)])
    # pixel centres: frame x ↔ luma (x − x0 + 0.5)·scale − 0.5
    place = np.array([*scale, *((0.5 - np.array([x0, y0])) * scale - 0.5)])
    return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32), place


def face_box(points: np.ndarray, clip: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1): the box of K×2 points (pixels) inside `clip`, or None when under 8 pixels either way."""
    x0, y0, x1, y1 = mouth_box(points, clip, 0)
    return (x0, y0, x1, y1) if x1 - x0 >= 8 and y1 - y0 >= 8 else None


def left_out(grid: _Grid, points: np.ndarray, support: np.ndarray) -> None:
    """Clears LEFT_OUT's polygons of a face's points (68-point layout first, pixels) from `support` (grid-sized
    uint8), in place."""
    on_grid = grid.to_cells(points)
    for index, grow in LEFT_OUT:  # one call each: fillPoly leaves where polygons overlap unfilled
        part = on_grid[list(index)]
        centre = part.mean(0)
        cv2.fillPoly(support, [np.rint((centre + (part - centre) * (1 + grow)) * 16).astype(np.int32)], (0,), shift=4)


class Creases:
    """Lays the driver's creases on output frames (see the module's text). One per compose thread: it keeps the
    neutral frame's luma between frames."""

    def __init__(self) -> None:
        # the neutral frame (held, so its id is not reused while its luma is kept), the shrink its luma was read
        # at, and face_luma's result
        self._neutral: tuple[DriverFrame, float, tuple[np.ndarray, np.ndarray]] | None = None

    def _neutral_luma(self, neutral: DriverFrame, points: np.ndarray, shrink: float) -> tuple[np.ndarray, np.ndarray]:
        """face_luma of the neutral frame (points: its own, forehead included), read again only when the shrink
        asked for is a quarter off (the driver came nearer or went further since)."""
        kept = self._neutral
        if kept is None or kept[0] is not neutral or abs(np.log(shrink / kept[1])) > 0.25:
            kept = self._neutral = (neutral, shrink, face_luma(neutral, points, shrink))
        return kept[2]

    def ratio(
        self, now: DriverFrame, neutral: DriverFrame, tri: np.ndarray
    ) -> tuple[_Grid, np.ndarray, np.ndarray, np.ndarray] | None:
        """The band-passed, clamped log luma ratio of `now` over `neutral` on a grid over the driver's face in
        this frame, where it holds (height×width float32 each, the weight 0/1), and this frame's points with
        the forehead's (with_forehead, camera pixels); or None without a face. tri: triangles of 68 points and
        the forehead's."""
        h, w = now.image.shape[:2]
        rest = np.asarray(neutral.points, np.float64)
        neutral_points = np.vstack([rest, forehead(rest)])
        points = with_forehead(now.points, rest, neutral_points[68:])
        box = face_box(points, (0, 0, w, h))
        if box is None:
            return None
        grid = _Grid(box, float(np.ptp(points[:68], axis=0).max()))
        shrink = max(1.0, float(grid.step.mean()) / 2)  # two luma samples a cell
        which = grid.triangle_of_cells(points, tri)
        # both frames are read the same way (reduced alike, sampled bilinearly at the cells' places), so the
        # same frame twice gives a ratio of exactly 1: this one at the cells' centres, the neutral where its
        # triangles put them
        luma, place = face_luma(now, points, shrink)
        x, y = grid.centres()
        at = (np.repeat(x * place[0] + place[2], grid.height, 0), np.repeat(y * place[1] + place[3], grid.width, 1))
        sampled = [cv2.remap(luma, *at, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)]
        luma, place = self._neutral_luma(neutral, neutral_points, shrink)
        maps, usable = _affines(tri, neutral_points * place[:2] + place[2:], points)
        sampled.append(cv2.remap(luma, *grid.moved(which, maps), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
        support = ((which >= 0) & usable[which]).astype(np.uint8)
        left_out(grid, points, support)
        if not support.any():
            return None
        width = float(np.linalg.norm(points[0] - points[16])) / float(grid.step.mean())  # the face, in cells
        contour = away_from_outline(grid, points, CONTOUR * width, TOP * width)
        above = on_forehead(grid, points)
        weight = support * skin_cells(sampled[1], support, (contour < 1) | (above > 0))
        current, then = (_masked_blur(x, weight, FINE * width) + DARK for x in sampled)
        raw = np.log(current / then)
        # what is in front of the face: its inside, by the ratio less its median over the face (the band-pass
        # would take a hand for light), left out of the band-pass too; its edges, on the band-passed ratio
        weight = weight * in_the_open(raw - float(np.median(raw[weight > 0])), weight)
        field = raw - _masked_blur(raw, weight, BROAD * width)
        weight = weight * in_the_open(field, weight)
        field = np.clip(field, -np.where(above > 0, DARKEST_FOREHEAD, DARKEST), LIGHTEST)
        gate = np.clip((brow_motion(points, rest) - BROW_STILL) / (BROW_MOVED - BROW_STILL), 0, 1)
        if gate < 1:  # faded across the brows' line, not cut there
            share = cv2.GaussianBlur(above.astype(np.float32), (0, 0), max(EDGE * width, 0.5))
            field *= 1 - (1 - gate) * share
        return grid, (field * weight * contour).astype(np.float32), weight, points

    def lay(
        self,
        frame: np.ndarray,
        avatar_points: np.ndarray,
        rest_points: np.ndarray,
        now: DriverFrame,
        neutral: DriverFrame,
        clip: tuple[int, int, int, int],
        strength: float = 1.0,
    ) -> bool:
        """Multiplies the change of light from `neutral` to `now` (the driver's frames) into `frame` (the output,
        H×W×3 uint8 RGB, in place) over the avatar's face. avatar_points: the driven 68×2 points, output pixels;
        rest_points: the avatar's rest 68×2 points (any pixels: its forehead is carried from them); clip: (x0,
        y0, x1, y1) output pixels that may change; strength: the share of the change laid (0…1: a held frame's,
        fading as the pose glides back to the neutral). Returns whether anything was laid."""
        rest = np.asarray(rest_points, np.float64)
        rest = np.vstack([rest, forehead(rest)])
        target = with_forehead(avatar_points, rest[:68], rest[68:])
        box = face_box(target, clip)
        face_width = float(np.linalg.norm(target[0] - target[16]))
        if box is None or face_width < 16 or strength <= 0:
            return False
        tri = triangles(rest)
        found = self.ratio(now, neutral, tri)
        if found is None:
            return False
        driver, field, weight, driver_points = found
        grid = _Grid(box, float(np.ptp(target[:68], axis=0).max()))
        which = grid.triangle_of_cells(target, tri)
        to_driver, usable = _affines(tri, driver.to_cells(driver_points), target)
        # a triangle the avatar's pose turns over (a face turned far, its far side folding) has no one place
        flipped = np.sign(_areas(target, tri)) != np.sign(_areas(rest, tri))
        covered = (which >= 0) & (usable & ~flipped)[which]
        map_x, map_y = grid.moved(which, to_driver)
        field = cv2.remap(field, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0,))
        held = cv2.remap(weight, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0.0,))
        held = (held > 0.99) & covered
        edge = EDGE * face_width / float(grid.step.mean())
        field = field * fade_in(held.astype(np.uint8), edge) * min(strength, 1.0)
        rows, cols = np.nonzero(np.abs(field) > NO_CHANGE)
        if len(rows) == 0:
            return False
        gain = cv2.resize(np.exp(field), (box[2] - box[0], box[3] - box[1]), interpolation=cv2.INTER_LINEAR)
        # multiplied only over the cells that change a level, and a cell around them (the enlarging's reach)
        y0, y1 = (int(np.clip(v * grid.step[1], 0, gain.shape[0])) for v in (rows.min() - 1, rows.max() + 2))
        x0, x1 = (int(np.clip(v * grid.step[0], 0, gain.shape[1])) for v in (cols.min() - 1, cols.max() + 2))
        gain = gain[y0:y1, x0:x1]
        region = frame[box[1] + y0 : box[1] + y1, box[0] + x0 : box[0] + x1]
        region[:] = cv2.multiply(region, cv2.merge([gain, gain, gain]), dtype=cv2.CV_8U)  # rounded, saturated
        return True


def skin_cells(neutral: np.ndarray, support: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """0/1 float32 on the grid: 1 where a cell can be the face's skin; 0 on the cells of the face's `sides`
    (bool) far darker than its median in the neutral frame (SKIN_DARKEST; neutral: its luma on the grid,
    height×width float32; support: the cells the ratio holds on, uint8) and TRUST cells around them. Only at
    the sides: in the middle of the face the dark of a mouth's corners and of nostrils lies beside the smile's
    folds."""
    dark = (neutral < SKIN_DARKEST * float(np.median(neutral[support > 0]))) & sides
    return cv2.erode((~dark).astype(np.float32), np.ones((2 * TRUST + 1,) * 2, np.uint8))


def in_the_open(change: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """0…1 float32 on the grid: how far each cell's change of light (a log ratio) can be a crease, not something
    in front of the face (OCCLUDED_DARK, OCCLUDED_LIGHT), TRUST cells around those that cannot; weight: where
    the ratio holds (cells outside it are trusted: their values are the blur's guess)."""
    margin = np.minimum(change - OCCLUDED_DARK, OCCLUDED_LIGHT - change) / TRUST_RAMP
    trust = np.where(weight > 0, np.clip(margin, 0, 1), 1).astype(np.float32)
    return cv2.erode(trust, np.ones((2 * TRUST + 1,) * 2, np.uint8))


def on_forehead(grid: _Grid, points: np.ndarray) -> np.ndarray:
    """height×width uint8 0/1: the cells above the brows, inside the forehead's points (with_forehead's)."""
    above = np.zeros((grid.height, grid.width), np.uint8)
    outline = grid.to_cells(np.vstack([points[17:27], points[68:][::-1]]))
    cv2.fillPoly(above, [np.rint(outline * 16).astype(np.int32)], (1,), shift=4)
    return above


def brow_motion(points: np.ndarray, rest: np.ndarray) -> float:
    """How far a face's brows (68-point layout, pixels) have moved from its rest's, in outer eye corners'
    distances: the larger of the change in their mean height over the eye corners' line and in the gap between
    their inner ends."""

    def brows(p: np.ndarray) -> tuple[float, float]:
        up = _up(p)
        width = max(float(np.hypot(*up)), 1e-6)
        height = float(np.mean((p[17:27] - (p[36] + p[45]) / 2) @ up)) / width**2
        return height, float(np.linalg.norm(p[22] - p[21])) / width

    (h, g), (h0, g0) = brows(np.asarray(points, np.float64)), brows(np.asarray(rest, np.float64))
    return max(abs(h - h0), abs(g - g0))


def away_from_outline(grid: _Grid, points: np.ndarray, cheeks: float, top: float) -> np.ndarray:
    """0…1 float32 on the grid: the distance from the face's outline beside the cheeks (68-point layout 0–5 and
    11–16) over `cheeks` cells, and from the forehead's top edge and the temples (with_forehead's points, from
    the outline's point 0 over the forehead to 16) over `top` cells, the nearer, at most 1 (points: pixels).
    The chin's outline is not among them: its shade as the jaw drops is expression."""
    on_grid = np.rint(grid.to_cells(points) * 16).astype(np.int32)
    near = np.ones((grid.height, grid.width), np.float32)
    for lines, width in (([on_grid[0:6], on_grid[11:17]], cheeks), ([on_grid[[0, *range(68, len(points)), 16]]], top)):
        drawn = np.full((grid.height, grid.width), 255, np.uint8)
        cv2.polylines(drawn, lines, False, (0,), shift=4)
        distance = cv2.distanceTransform(drawn, cv2.DIST_L2, 3)
        near = np.minimum(near, distance / max(width, 1e-3))
    return near


def fade_in(mask: np.ndarray, width: float) -> np.ndarray:
    """0…1 float32: `mask` (uint8 0/1) shrunk by `width` cells and blurred as much, so it rises from 0 at the
    mask's edge to 1 about 2·width inside."""
    inner = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=int(np.ceil(width)))
    return cv2.GaussianBlur(inner.astype(np.float32), (0, 0), max(width, 0.3))


def _areas(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Signed areas (T) of the triangles (T×3 indices) over points (N×2)."""
    a, b, c = (points[tri[:, k]] for k in range(3))
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
