"""The spline's backward map, unfolded where it folds: a wide-open mouth, a turned head.

On a closed-mouth portrait the upper and lower inner lips are one line, and a driver who opens wide asks the
thin-plate spline to pull that line 15–25 crop pixels apart; a head turned from the portrait's pose packs the
far cheek behind the nose. The forward spline overshoots either side of so steep a stretch and folds over
itself (no inverse there), and the frame graph's Newton steps land on whichever branch they reach: the
backward map jumps and turns over, and the output shows the portrait's lower lip twice (a loop of lip outline
in the lip or on the chin) or a dark blot of eye or background on a cheek. Driven by the 4 held-out talking
clips (35 frames each past the neutral's), the map folds outside the mouth's opening on 185 of 2085 frames
of 15 portraits (up to 12 % of a portrait's frames, a quarter on the Girl with a Pearl Earring), always the
widest mouths and the farthest turns, which are what a viewer watches.

So, before the map moves the portrait at the output's resolution, the grid points around every square it
turns over (and their neighbours) are refilled by harmonic interpolation from the sound points around them
(a Laplace solve), held by least squares to the spline's own control points: each driven landmark still
reads its portrait landmark, so an opening still reads the lips' seam and a lip its own rows (a fill without
them read the lips' pixels across the opening, and both trackers read the mouth half shut: mouth range
0.86 → 0.75 by mediapipe over 60 pairs). Squares wholly inside the driven opening are left as they are: the
driver's mouth or G's paint covers them. A fill can fold a little itself at its rim (a Laplace solve is
injective only on convex patches), so what still folds is grown into the patch and solved again; pins that no
map can honour without folding are dropped after ROUNDS. A map that does not fold is returned as it is: at
rest and in ordinary speech nothing changes. On the frames above one fill sufficed on 166, two on 4; 15 needed
the pins dropped; none folded after; 32 grid points refilled (median, 101 at most); 1.6 ms (7.4 at most)
where a fold is, 0.14 ms where none is (tools/measure_folds.py report; docs/perf/driver-mouth/folds.json).

Shapes: flow G×G×2 float32, crop pixels (x, y): for each coarse cell centre of the driven crop, the offset to
the portrait point it samples (liveavatar.models.warp's backward shift, in pixels).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# The pins' weight against the smoothness equations: the map through the control points, nearly exactly.
PIN_WEIGHT = 4.0
ROUNDS = 4  # pinned fills, each over the last one's patch grown by what still folds (then without the pins)
_STEPS = ((0, 1), (0, -1), (1, 0), (-1, 0))


@lru_cache(maxsize=4)
def _centres(g: int, crop_size: int) -> np.ndarray:
    """G×G×2 float64 (x, y): the coarse grid points' crop pixels (made once per grid, read only)."""
    centres = (np.arange(g) + 0.5) * crop_size / g - 0.5
    grid = np.dstack(np.meshgrid(centres, centres))
    grid.setflags(write=False)
    return grid


def folded_cells(flow: np.ndarray, crop_size: int) -> np.ndarray:
    """(G−1)×(G−1) bool: the squares between four neighbouring grid points that the backward map turns over
    (any of the square's four corner triangles mapped with its orientation reversed, or collapsed). A fold
    reverses orientation, while a lip stretched open only compresses it (nearly to nothing beside an opening),
    so the sign is the test; on every corner, because a single grid point that jumped, which a centred
    derivative can miss, turns the corners around it over."""
    mapped = flow.astype(np.float64) + _centres(flow.shape[0], crop_size)  # the portrait point each reads
    a, b = mapped[:-1, :-1], mapped[:-1, 1:]  # a square's corners: a b
    c, d = mapped[1:, :-1], mapped[1:, 1:]  #                         c d

    def turn(o: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:  # > 0 as the grid's own x-then-y turn
        return (u[..., 0] - o[..., 0]) * (v[..., 1] - o[..., 1]) - (u[..., 1] - o[..., 1]) * (v[..., 0] - o[..., 0])

    return (turn(a, b, c) <= 0) | (turn(b, d, a) <= 0) | (turn(d, c, b) <= 0) | (turn(c, a, d) <= 0)


def unfold(
    flow: np.ndarray,
    crop_size: int,
    pins: tuple[np.ndarray, np.ndarray] | None = None,
    opening: np.ndarray | None = None,
) -> np.ndarray:
    """`flow` (G×G×2 float32 crop pixels) with the grid points of its folded squares, and their neighbours,
    refilled harmonically from the points around them; `flow` itself when nothing folds. pins: (driven,
    source), P×2 crop pixels each: the spline's control points, which the refilled map still takes each driven
    point to its source point through (least squares, PIN_WEIGHT against the smoothness), so an opening still
    reads its lips' seam and a lip its own rows. opening: the driven inner lips' polygon (K×2 crop pixels), or
    None: squares wholly inside it are not counted as folded, since the driver's mouth or G's paint covers them
    whatever they read (and there the map reads the seam over and over, folded or not). A harmonic
    fill of an irregular patch can itself fold a little at its rim (a Laplace solve is injective only on
    convex patches), so what still folds is grown into the patch and solved again, up to ROUNDS times."""
    folded = folded_cells(flow, crop_size)
    if not folded.any():
        return flow  # the common case: nothing else to compute
    seen = _outside(opening, flow.shape[0] - 1, crop_size)
    folded &= seen
    if not folded.any():
        return flow
    unknown = np.zeros(flow.shape[:2], bool)
    out = flow
    for _ in range(ROUNDS):
        corners = np.zeros(flow.shape[:2], np.uint8)
        for dr in (0, 1):
            for dc in (0, 1):
                corners[dr : dr + folded.shape[0], dc : dc + folded.shape[1]] |= folded
        unknown |= cv2.dilate(corners, np.ones((3, 3), np.uint8)) > 0
        if unknown.all():
            return flow  # nothing sound to interpolate from (no real driven face folds the whole crop)
        out = _harmonic_fill(flow, unknown, crop_size, pins)
        folded = folded_cells(out, crop_size) & seen
        if not folded.any():
            return out
    if pins is not None:
        # pins no map can honour without folding (a retargeted inner-lip corner past the outer one): dropped
        return unfold(flow, crop_size, None, opening)
    return out


def _outside(opening: np.ndarray | None, squares: int, crop_size: int) -> np.ndarray:
    """squares×squares bool: the grid's squares not wholly inside `opening` (all of them without one): a square
    reaches as far as its corners, since the output's map is bilinear between them."""
    if opening is None:
        return np.ones((squares, squares), bool)
    points = np.zeros((squares + 1, squares + 1), np.uint8)
    cell = crop_size / (squares + 1)
    at = (np.asarray(opening, np.float64) + 0.5) / cell - 0.5  # grid point (r, c) at integers (c, r)
    cv2.fillPoly(points, [np.rint(at * 16).astype(np.int32)], (1,), shift=4)  # 4 fractional bits
    inside = points[:-1, :-1] & points[:-1, 1:] & points[1:, :-1] & points[1:, 1:]
    return inside == 0


def _harmonic_fill(
    flow: np.ndarray, unknown: np.ndarray, crop_size: int, pins: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray:
    """`flow` with its `unknown` grid points (G×G bool) each the mean of its neighbours inside the grid (a
    discrete Laplace equation, the known points on its right-hand side) and, weighted by PIN_WEIGHT, the map
    bilinear between the grid points taking each pin's driven point to its source point."""
    g = flow.shape[0]
    cells = np.argwhere(unknown)
    index = np.full((g, g), -1)
    index[unknown] = np.arange(len(cells))
    known = flow.astype(np.float64)
    system = np.zeros((len(cells), len(cells)))
    right = np.zeros((len(cells), 2))
    rows = np.arange(len(cells))
    for dr, dc in _STEPS:
        r, c = cells[:, 0] + dr, cells[:, 1] + dc
        inside = (r >= 0) & (r < g) & (c >= 0) & (c < g)
        k, r, c = rows[inside], r[inside], c[inside]
        system[k, k] += 1
        neighbour = index[r, c]
        free = neighbour >= 0
        np.subtract.at(system, (k[free], neighbour[free]), 1)
        np.add.at(right, k[~free], known[r[~free], c[~free]])
    equations, rhs = [system], [right]
    if pins is not None:
        pinned = _pin_equations(known, index, crop_size, *pins)
        if pinned is not None:
            equations.append(PIN_WEIGHT * pinned[0])
            rhs.append(PIN_WEIGHT * pinned[1])
    a, b = np.vstack(equations), np.vstack(rhs)
    # least squares by its normal equations: the Laplace rows alone are already nonsingular (every patch touches a
    # sound point), and on one BLAS thread (liveavatar/__init__.py) this took 24 µs for 40 unknowns, lstsq's SVD 217
    solution = np.linalg.solve(a.T @ a, a.T @ b)
    out = flow.astype(np.float32, copy=True)
    out[unknown] = solution.astype(np.float32)
    return out


def _pin_equations(
    known: np.ndarray, index: np.ndarray, crop_size: int, driven: np.ndarray, source: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """One equation per pin whose bilinear footprint (the 4 grid points around its driven point) holds an
    unknown point: Σ wⱼ flowⱼ = source − driven, the known points moved to the right-hand side."""
    g = known.shape[0]
    at = (np.asarray(driven, np.float64) + 0.5) * g / crop_size - 0.5  # grid coordinates (points at integers)
    want = np.asarray(source, np.float64) - np.asarray(driven, np.float64)
    base = np.floor(at).astype(int)
    frac = at - base
    unknowns = int(index.max()) + 1
    system, right = [], []
    for (c0, r0), (fx, fy), value in zip(base, frac, want, strict=True):
        row = np.zeros(unknowns)
        total = value.copy()
        touches = False
        for dr, dc, w in ((0, 0, (1 - fx) * (1 - fy)), (0, 1, fx * (1 - fy)), (1, 0, (1 - fx) * fy), (1, 1, fx * fy)):
            r, c = min(max(r0 + dr, 0), g - 1), min(max(c0 + dc, 0), g - 1)
            if index[r, c] >= 0:
                row[index[r, c]] += w
                touches = True
            else:
                total -= w * known[r, c]
        if touches:
            system.append(row)
            right.append(total)
    return (np.array(system), np.array(right)) if system else None
