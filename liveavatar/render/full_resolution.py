"""The `warp` presets' output at the output's own resolution: the portrait's pixels, moved, G's paint on top.

The frame graph works on a S×S face crop (256 px spanning about two face widths). Scaling its composite back
up into a 720p or 1080p frame (2–2.6×) turned hair, skin and brushwork to mush. But the spline's backward
map is smooth (the graph solves it on a coarse G×G grid anyway), so it can move the portrait itself,
sampled at the output's resolution: for an output pixel P in the face's region,

    c  = M·P                    crop pixels (M: output → crop, an upright scale and shift)
    c' = c + flow(c)·fade(c)    the graph's coarse backward map, bilinear between cell centres; fade: 1 inside
                                the crop, 0 at its rounded edge, so the moved face joins the still portrait
    out(P) = portrait at M⁻¹·c' = P + K·flow(c)·fade(c)   (K = M⁻¹'s linear part: output px per crop px)

and only what G paints (its RGB and coverage, S×S) is upsampled and laid over it. Where nothing moves the
flow and the coverage are exactly 0 (models/warp_head.py: the spline's coefficients vanish, and G's mask is
gated by motion), so a face at rest is the portrait pixel for pixel. Output pixels outside the portrait's
own rectangle are never written, and samples past its border repeat its edge pixels: nothing from beyond the
image appears in the frame.

Images are H×W×3 uint8 RGB; flow N×G×G×2 float32 crop pixels (x, y); paint N×S×S×4 uint8 RGBA
(liveavatar.types.WarpLayers).
"""

from __future__ import annotations

import cv2
import numpy as np

from liveavatar.render.align import apply_affine
from liveavatar.render.composite import rounded_square_fade
from liveavatar.render.driver_mouth import INNER_LIP
from liveavatar.render.eyeballs import Eyeball, PortraitEyes, eyeball_of, turn_eyeball
from liveavatar.render.lids import (
    EDGE_SUPERSAMPLE,
    EyeShape,
    band_box,
    close_lid,
    eye_shapes,
    find_lash,
    lid_ratios,
    openness,
    shade_lash_line,
    smooth_lid_edges,
)
from liveavatar.render.shut_lid import LIGHT_FROM, DriverLids, driver_lid_light, shade_shut_lid, shading
from liveavatar.render.unfold import unfold

FADE = 0.1  # the fade at the crop's edge, a fraction of the crop's side (the paste-back's feather)
# G's coverage up to this (of 255) is left out: up to 3 % of its half-size paint, a veil over everything that
# moves that only softens the portrait. Driven by a talking clip, coverage over 3 spans 62 % of the crop's box
# and over 8 a third of it (the mouth's surroundings): 8 laid ~1 ms less a 720p frame, the frames 0.005–0.015
# grey levels apart on average (at most 5–7 at a pixel), measured side by side on two portraits.
PAINT_FLOOR = 8
# cv2.INTER_CUBIC keeps more of the portrait's fine detail where it moves by a fraction of a pixel than
# INTER_LINEAR, and like it returns a pixel exactly where it samples a pixel centre (a face at rest).
# Lanczos kept a little more still, at 10× bicubic's time.
INTERPOLATION = cv2.INTER_CUBIC
NO_MAP = np.empty((0, 0), np.float32)  # cv2.remap's second map, unused with a CV_32FC2 first one (x, y together)
NODE_STEP = 4  # samples per node of the coarse displacement, per side (docs/PERFORMANCE.md: 2 to 8 measured)
# an eye the lids closed in a frame's map: its shape and closing, the map's rows and columns they changed, those
# samples before (what _smooth_lid_edges redraws the lids' edges from), and which eye it is (0: subject's right)
ClosedEye = tuple[EyeShape, float, slice, slice, np.ndarray, int]


class FullResolutionWarp:
    """Moves one portrait by a warp frame graph's layers, in one output frame's geometry. Not thread-safe.

    source: the portrait at `supersample` times the output's scale (h×w×3 uint8 RGB), whose pixel j is
    centred on output coordinate origin + (j + 0.5)/supersample − 0.5 (x and y alike); it is read, never
    written, and may be a view into the output's background. to_crop: 2×3 float64, output pixels → crop
    pixels (upright: no rotation). crop_size S, coarse grid G. clip: (x0, y0, x1, y1) output pixels that may
    change (the portrait's rectangle, or less). landmarks: the portrait's 68×2 crop pixels, or None; with
    them (and driven points given to apply) the lids close as the driven ones do (liveavatar.render.lids).
    eyes: the portrait's eyes (crop pixels), or None; with them and the landmarks (and driven irises given to
    apply) each eyeball is redrawn with its iris where the driven one is (liveavatar.render.eyeballs).

    supersample 2 (a portrait with at least 1.5× the output's resolution there, as a large photo or
    painting in a 720p frame): the moved portrait is sampled bilinearly on a 2× grid and averaged down over
    each output pixel, as a camera would see it moved, at the cost of a bicubic remap at 1×. supersample 1
    (the portrait at its own size or enlarged): bicubic at the output's scale. docs/ARCHITECTURE.md has the
    figures behind both.
    """

    def __init__(
        self,
        source: np.ndarray,
        origin: tuple[float, float],
        to_crop: np.ndarray,
        crop_size: int,
        coarse: int,
        clip: tuple[int, int, int, int],
        supersample: int = 1,
        landmarks: np.ndarray | None = None,
        eyes: PortraitEyes | None = None,
    ) -> None:
        self.source = source
        self.crop_size, self.coarse, self.supersample = crop_size, coarse, supersample
        to_crop = np.asarray(to_crop, np.float64)
        from_crop = np.asarray(cv2.invertAffineTransform(to_crop), np.float64)
        self.from_crop = from_crop  # crop pixels → output pixels (2×3 float64)
        corners = np.array([[-0.5, -0.5], [crop_size - 0.5, -0.5], [-0.5, crop_size - 0.5], [crop_size - 0.5] * 2])
        footprint = corners @ from_crop[:, :2].T + from_crop[:, 2]
        lo, hi = np.floor(footprint.min(0)).astype(int), np.ceil(footprint.max(0)).astype(int) + 1
        x0, y0 = max(clip[0], int(lo[0])), max(clip[1], int(lo[1]))
        x1, y1 = min(clip[2], int(hi[0])), min(clip[3], int(hi[1]))
        self.region = (x0, y0, max(x0, x1), max(y0, y1))  # output pixels this warp may change
        w, h = self.region[2] - x0, self.region[3] - y0
        k = supersample
        # The sample grid: each output pixel's k×k sub-pixel centres, sample j along x at output coordinate
        # x0 + (j + 0.5)/k − 0.5 (likewise y).
        size = (w * k, h * k)
        # The displacement (flow × faded gain) is smooth: it is sampled on NODE_STEP-times coarser nodes, node i
        # at sample NODE_STEP·i + (NODE_STEP − 1)/2, which is where cv2.resize INTER_LINEAR by NODE_STEP puts
        # it, and enlarged from there (remapping the flow at every sample cost 3× as much).
        nodes = [-(-n // NODE_STEP) for n in size]
        node_x, node_y = (
            at + (NODE_STEP * np.arange(n) + NODE_STEP / 2) / k - 0.5 for n, at in zip(nodes, (x0, y0), strict=True)
        )
        xs, ys = np.meshgrid(node_x.astype(np.float64), node_y.astype(np.float64))
        cx = to_crop[0, 0] * xs + to_crop[0, 1] * ys + to_crop[0, 2]  # crop pixels of each node
        cy = to_crop[1, 0] * xs + to_crop[1, 1] * ys + to_crop[1, 2]
        cells = coarse / crop_size  # crop pixel → coarse cell coordinate (cell centres at integers)
        self._cell_x = ((cx + 0.5) * cells - 0.5).astype(np.float32)
        self._cell_y = ((cy + 0.5) * cells - 0.5).astype(np.float32)
        half = crop_size / 2
        fade = rounded_square_fade((cx + 0.5 - half) / half, (cy + 0.5 - half) / half, FADE)
        # source px per crop px along x and y, faded, at each node (2 channels: the displacement's x, y)
        self._gain = np.dstack([fade * from_crop[0, 0] * k, fade * from_crop[1, 1] * k]).astype(np.float32)
        # each sample in source px at rest (2 channels x, y: cv2.remap's CV_32FC2 map): integers, so a sample
        # that does not move reads its source pixel exactly
        sx = (np.arange(x0 * k, (x0 + w) * k, dtype=np.float64) + 0.5 - origin[0] * k) - 0.5
        sy = (np.arange(y0 * k, (y0 + h) * k, dtype=np.float64) + 0.5 - origin[1] * k) - 0.5
        self._base = np.dstack(np.meshgrid(sx, sy)).astype(np.float32)
        self._fine = np.empty((nodes[1] * NODE_STEP, nodes[0] * NODE_STEP, 2), np.float32)  # the enlarged shift
        self._map = self._base.copy()
        # Only samples strictly inside the crop's square move (the fade is 0 on and past its edge); the region's
        # outer rows and columns can lie past it, where the enlarged shift would carry the next node's sliver.
        inside = []
        for axis, start in enumerate((x0, y0)):
            at = start + (np.arange(size[axis]) + 0.5) / k - 0.5
            crop = to_crop[axis, axis] * at + to_crop[axis, 2]
            kept = np.flatnonzero((crop > -0.5) & (crop < crop_size - 0.5))
            inside.append(slice(int(kept[0]), int(kept[-1]) + 1) if len(kept) else slice(0, 0))
        self._moving = (inside[1], inside[0])  # rows, columns of the sample grid
        # the fade at the output's pixels, for G's paint
        px, py = np.meshgrid(np.arange(x0, x0 + w, dtype=np.float64), np.arange(y0, y0 + h, dtype=np.float64))
        pcx = to_crop[0, 0] * px + to_crop[0, 1] * py + to_crop[0, 2]
        pcy = to_crop[1, 0] * px + to_crop[1, 1] * py + to_crop[1, 2]
        fade = rounded_square_fade((pcx + 0.5 - half) / half, (pcy + 0.5 - half) / half, FADE)
        self._fade_255 = (fade / 255).astype(np.float32)  # G's coverage 0…255 × this: its share, faded
        self._to_region = from_crop.copy()  # crop → this region's pixels
        self._to_region[:, 2] -= (x0, y0)
        # crop pixels → source samples (the map's values) and → the map's own grid (its rows and columns)
        self._to_source = _then_samples(from_crop, origin, k)
        self._to_grid = _then_samples(from_crop, (x0, y0), k)
        self._landmarks = None if landmarks is None else np.asarray(landmarks, np.float64)
        # the portrait's own landmarks in `source`'s pixels (68×2 float64), or None without them
        self.source_points: np.ndarray | None = None
        self._eyes: tuple[EyeShape, ...] = ()
        if self._landmarks is not None:
            self.source_points = apply_affine(self._to_source, self._landmarks)
            self._eyes = tuple(find_lash(e, source) for e in eye_shapes(self.source_points))
            self._lid_ratios = lid_ratios(self._landmarks)
            shading()  # read now: a missing or damaged asset is said when the avatar is set, not mid-blink
        self._eyeballs: list[Eyeball | None] = [None, None]
        if eyes is not None and self._eyes:
            scale = float(np.sqrt(abs(np.linalg.det(self._to_source[:, :2]))))  # source px per crop px
            for e in range(2):
                self._eyeballs[e] = eyeball_of(
                    source,
                    self._eyes[e],
                    apply_affine(self._to_source, np.asarray(eyes.contours[e], np.float64)),
                    apply_affine(self._to_source, np.asarray(eyes.irises[e], np.float64)[None])[0],
                    float(eyes.radii[e]) * scale,
                )

    def apply(
        self,
        frame: np.ndarray,
        flow: np.ndarray,
        paint: np.ndarray,
        driven: np.ndarray | None = None,
        driven_irises: np.ndarray | None = None,
        lids: DriverLids | None = None,
    ) -> None:
        """Writes the moved portrait with G's paint into `frame` (the output, H×W×3 uint8 RGB, which holds the
        still background) inside the region. flow: G×G×2 float32 crop pixels (unfolded first where it folds, a
        wide-open mouth or a turned head: liveavatar.render.unfold, along the driven points when given); paint:
        S×S×4 uint8 RGBA; driven: the frame's driven 68×2 crop pixels, or None (the lids then stay as the spline
        leaves them); driven_irises: its 2×2 driven iris centres (crop pixels: the control points' last two), or
        None (the eyes then look as the spline leaves them); lids: the driver at this frame, whose own shut lid's
        light a shut eye takes (liveavatar.render.shut_lid), or None (the template's)."""
        x0, y0, x1, y1 = self.region
        if x1 <= x0 or y1 <= y0:
            return
        if flow.shape != (self.coarse, self.coarse, 2) or paint.shape != (self.crop_size, self.crop_size, 4):
            raise ValueError(
                f"flow must be {self.coarse}×{self.coarse}×2 and paint {self.crop_size}×{self.crop_size}×4, "
                f"got {flow.shape} and {paint.shape}"
            )
        if not np.isfinite(flow).all():
            # a graph exported before the spline's log was floored (or another engine's slip) put NaN in a cell:
            # remapped, it drew a square of whatever the NaN sampled; that cell's portrait stays where it is
            flow = np.nan_to_num(flow, nan=0.0, posinf=0.0, neginf=0.0)
        pins = opening = None
        if driven is not None and self._landmarks is not None:
            pins, opening = (np.asarray(driven), self._landmarks), np.asarray(driven)[INNER_LIP]
        shift = cv2.remap(
            unfold(np.ascontiguousarray(flow, np.float32), self.crop_size, pins, opening),
            self._cell_x,
            self._cell_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,  # past the outer cell centres the map holds, as the graph's upsampling
        )
        fine = cv2.resize(shift * self._gain, self._fine.shape[1::-1], dst=self._fine, interpolation=cv2.INTER_LINEAR)
        rows, cols = self._moving
        turns: list[tuple[Eyeball, slice, slice, np.ndarray, np.ndarray]] = []
        closed: list[ClosedEye] = []
        if rows.stop > rows.start and cols.stop > cols.start:
            cv2.add(fine[rows, cols], self._base[rows, cols], dst=self._map[rows, cols])
            if driven is not None and self._eyes:
                driven = np.asarray(driven, np.float64)
                on_grid = eye_shapes(apply_affine(self._to_grid, driven))  # the driven eyes, for both
                closed = self._close_lids(driven, on_grid, rows, cols)
                if driven_irises is not None:
                    irises = np.asarray(driven_irises, np.float64).reshape(2, 2)
                    turns = self._eye_turns(on_grid, irises, rows, cols)
        region = frame[y0:y1, x0:x1]
        if self.supersample == 1:
            cv2.remap(
                self.source,
                self._map,
                NO_MAP,
                INTERPOLATION,
                dst=region,
                borderMode=cv2.BORDER_REPLICATE,  # the portrait's own edge, never what lies beyond it
            )
            self._smooth_lid_edges(region, closed)
            self._turn_eyeballs(region, turns)
            self._shade_shut_eyes(region, closed, lids)
        else:
            # bilinear on the 2× grid: bicubic there kept more (1.04 of the face's sharpness at rest against 0.71,
            # measured on the Mona Lisa driven live) but its 1.6 ms more a 720p frame took the live run to 28 fps
            moved = cv2.remap(self.source, self._map, NO_MAP, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            self._smooth_lid_edges(moved, closed)
            self._turn_eyeballs(moved, turns)
            self._shade_shut_eyes(moved, closed, lids)
            region[:] = cv2.resize(moved, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        self._lay_paint(region, paint)

    def _eye_turns(
        self, on_grid: tuple[EyeShape, ...], driven_irises: np.ndarray, rows: slice, cols: slice
    ) -> list[tuple[Eyeball, slice, slice, np.ndarray, np.ndarray]]:
        """Per eye the portrait has (and the frame drives), what _turn_eyeballs draws: the eyeball, the rows
        and columns of the map's grid around the driven eye (on_grid: the driven eyes' shapes in grid pixels),
        and the driven corners and iris in grid pixels."""
        turns = []
        for e, eyeball in enumerate(self._eyeballs):
            if eyeball is None or not np.isfinite(driven_irises[e]).all():
                continue
            now = on_grid[e]
            corners = np.array([now.corner, now.corner + now.width * now.along])
            target = apply_affine(self._to_grid, driven_irises[e][None])[0]
            width = now.width
            # the opening around its corners (its lids ~0.2 eye widths off their line), and a margin for what the
            # spline moves against them
            margin = np.array([0.15, 0.35]) * width + 2
            lo, hi = corners.min(0) - margin, corners.max(0) + margin
            r0, r1 = max(rows.start, int(lo[1])), min(rows.stop, int(hi[1]) + 1)
            c0, c1 = max(cols.start, int(lo[0])), min(cols.stop, int(hi[0]) + 1)
            if r1 > r0 and c1 > c0:
                turns.append((eyeball, slice(r0, r1), slice(c0, c1), corners, target))
        return turns

    def _turn_eyeballs(self, moved: np.ndarray, turns: list) -> None:
        """Draws each eye's iris where the driven one is (liveavatar.render.eyeballs) into `moved` (the remapped
        portrait on the map's grid)."""
        flag = INTERPOLATION if self.supersample == 1 else cv2.INTER_LINEAR  # as the portrait was remapped
        for eyeball, r, c, corners, target in turns:
            turn_eyeball(moved[r, c], self._map[r, c], (c.start, r.start), eyeball, corners, target, flag)

    def _close_lids(
        self, driven: np.ndarray, on_grid: tuple[EyeShape, ...], rows: slice, cols: slice
    ) -> list[ClosedEye]:
        """Closes each eye of the map as far as the driven lids (driven: 68×2 crop pixels; on_grid: their eyes'
        shapes in grid pixels) are closed (liveavatar.render.lids), on the map's samples around the driven eye.
        Returns each eye closed (ClosedEye)."""
        assert self._landmarks is not None
        closing = 1 - openness(driven, rest_ratios=self._lid_ratios)
        closed = []
        for e, (shape, now, c) in enumerate(zip(self._eyes, on_grid, closing, strict=True)):
            if c <= 0:
                continue
            lo, hi = band_box(now)
            margin = 0.2 * now.width + 2  # the spline moves the eye's pixels a little against its points
            r0, r1 = max(rows.start, int(lo[1] - margin)), min(rows.stop, int(hi[1] + margin) + 1)
            c0, c1 = max(cols.start, int(lo[0] - margin)), min(cols.stop, int(hi[0] + margin) + 1)
            if r1 > r0 and c1 > c0:
                r, cs = slice(r0, r1), slice(c0, c1)
                closed.append((shape, float(c), r, cs, self._map[r, cs].copy(), e))
                close_lid(self._map[r, cs], shape, float(c))
        return closed

    def _smooth_lid_edges(self, moved: np.ndarray, closed: list[ClosedEye]) -> None:
        """Redraws the hard edges the lids' closing made in `moved` (the remapped portrait on the map's grid)
        from sub-samples (liveavatar.render.lids.smooth_lid_edges): EDGE_SUPERSAMPLE per side of an output
        pixel, so about half as many per side of a 2× grid's sample (averaged down four to a pixel after)."""
        flag = INTERPOLATION if self.supersample == 1 else cv2.INTER_LINEAR  # as the portrait was remapped
        k = -(-EDGE_SUPERSAMPLE // self.supersample)
        for shape, c, r, cs, before, _ in closed:
            smooth_lid_edges(moved[r, cs], self.source, before, self._map[r, cs], shape, c, k, flag)

    @staticmethod
    def _shade_shut_eyes(moved: np.ndarray, closed: list[ClosedEye], lids: DriverLids | None) -> None:
        """The lashes' colour where each shut eye's lids meet (liveavatar.render.lids.shade_lash_line) and a
        real shut lid's light over it (liveavatar.render.shut_lid: the driver's own at this frame where `lids`
        gives it, else the template's), in `moved` (the remapped portrait on the map's grid), over the turned
        eyeballs: drawn before them, the iris redrawn inside the driven eye's opening cut the line into dashes."""
        for shape, c, r, cs, before, e in closed:
            shade_lash_line(moved[r, cs], before, shape, c)
            table = None
            if lids is not None and c > LIGHT_FROM:
                table = driver_lid_light(lids, e)
            shade_shut_lid(moved[r, cs], before, shape, c, table)

    def _lay_paint(self, region: np.ndarray, paint: np.ndarray) -> None:
        """G's paint, upsampled from the crop to the region, over the moved portrait where it covers it."""
        # the box of what G paints above the floor (cv2.boundingRect of the thresholded coverage: ~10× faster
        # than numpy's any() over the strided alpha)
        alpha = cv2.extractChannel(np.ascontiguousarray(paint), 3)
        cx, cy, cw, ch = cv2.boundingRect(cv2.threshold(alpha, PAINT_FLOOR, 255, cv2.THRESH_BINARY)[1])
        if cw == 0 or ch == 0:
            return  # nothing painted: a face at rest, or moving without anything the warp cannot show
        rows, cols = (cy, cy + ch - 1), (cx, cx + cw - 1)
        # Only the painted part's footprint in the region (a mouth is a small part of the face).
        box = np.array([[cols[0] - 1, rows[0] - 1], [cols[-1] + 1, rows[0] - 1], [cols[0] - 1, rows[-1] + 1]])
        box = np.vstack([box, [cols[-1] + 1, rows[-1] + 1]]).astype(np.float64)
        spots = box @ self._to_region[:, :2].T + self._to_region[:, 2]
        h, w = region.shape[:2]
        bx0, by0 = (max(0, int(np.floor(v)) - 1) for v in spots.min(0))
        bx1, by1 = (min(n, int(np.ceil(v)) + 2) for v, n in zip(spots.max(0), (w, h), strict=True))
        if bx1 <= bx0 or by1 <= by0:
            return
        to_box = self._to_region.copy()
        to_box[:, 2] -= (bx0, by0)
        size, border = (bx1 - bx0, by1 - by0), cv2.BORDER_CONSTANT
        layer = cv2.warpAffine(paint, to_box, size, flags=cv2.INTER_LINEAR, borderMode=border, borderValue=(0,) * 4)
        # coverage × fade in float (0…1), the floor as before; cv2.blendLinear mixes in one pass what numpy's
        # uint16 blend took five for (it rounds the same, to within float error)
        cover = cv2.multiply(cv2.extractChannel(layer, 3), self._fade_255[by0:by1, bx0:bx1], dtype=cv2.CV_32F)
        cv2.threshold(cover, PAINT_FLOOR / 255, 0, cv2.THRESH_TOZERO, dst=cover)
        under = region[by0:by1, bx0:bx1]
        cv2.blendLinear(cv2.cvtColor(layer, cv2.COLOR_RGBA2RGB), under, cover, 1 - cover, dst=under)


def _then_samples(from_crop: np.ndarray, origin: tuple[float, float], k: int) -> np.ndarray:
    """crop pixels → output pixels (from_crop, 2×3) → the samples of a k× grid whose sample j is centred on output
    coordinate origin + (j + 0.5)/k − 0.5: 2×3 float64."""
    out = np.asarray(from_crop, np.float64) * k
    out[:, 2] += (0.5 - np.asarray(origin, np.float64)) * k - 0.5
    return out
