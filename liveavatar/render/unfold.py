"""The spline's backward map, unfolded where a wide-open mouth folds it.

On a closed-mouth portrait the upper and lower inner lips are one line, and a driver who opens wide asks the
thin-plate spline to pull that line 15–25 crop pixels apart. The forward spline overshoots on either side of
so steep a stretch and folds over itself (no inverse there), and the frame graph's Newton steps land on
whichever branch they reach: the backward map jumps, its Jacobian turns negative, and the portrait's lower
lip shows twice, a loop of lip outline inside it. Driven by the 4 held-out talking clips (40 frames each, every
second), 184 of 2085 frames of 15 portraits fold: up to 13 % per portrait, a third on the Girl with a Pearl
Earring, none on Ducreux's open mouth; always the most open frames, which are what a viewer watches.

So, before the map moves the portrait at the output's resolution, the grid points around every square the
map turns over, and their eight neighbours, are refilled by harmonic interpolation from the cells around
them (a Laplace solve with the rest held fixed): the lip is stretched smoothly between where the map is sound,
and a map that does not fold is returned as it is. Only what the folded cells showed changes: at rest and in
ordinary speech nothing folds. On those frames one fill sufficed on 149, two on 32, three on 3, and none
folded after; 32 grid points refilled (median, 102 at most), 1.2 ms (5.3 at most) where a fold is, 0.1 ms
where none is.

Shapes: flow G×G×2 float32, crop pixels (x, y): for each coarse cell centre of the driven crop, the offset to
the portrait point it samples (liveavatar.models.warp's backward shift, in pixels).
"""

from __future__ import annotations

import cv2
import numpy as np

# A fold reverses the map's orientation; a lip stretched open compresses it legitimately (to a fifth of its
# area beside an opening), so only the sign is the test, on every corner of every cell of the coarse grid (a
# single cell that jumped, which a centred derivative can miss, turns the corners around it over).
ROUNDS = 4  # fills, each over the last one's patch grown by what still folds (3 at most on the frames below)
_STEPS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def folded_cells(flow: np.ndarray, crop_size: int) -> np.ndarray:
    """(G−1)×(G−1) bool: the squares between four neighbouring grid points that the backward map turns over
    (any of the square's four corner triangles mapped with its orientation reversed, or collapsed)."""
    g = flow.shape[0]
    centres = (np.arange(g) + 0.5) * crop_size / g - 0.5
    mapped = flow.astype(np.float64) + np.dstack(np.meshgrid(centres, centres))  # the portrait point each reads
    a, b = mapped[:-1, :-1], mapped[:-1, 1:]  # a square's corners: a b
    c, d = mapped[1:, :-1], mapped[1:, 1:]  #                         c d

    def turn(o: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:  # > 0 as the grid's own x-then-y turn
        return (u[..., 0] - o[..., 0]) * (v[..., 1] - o[..., 1]) - (u[..., 1] - o[..., 1]) * (v[..., 0] - o[..., 0])

    return (turn(a, b, c) <= 0) | (turn(b, d, a) <= 0) | (turn(d, c, b) <= 0) | (turn(c, a, d) <= 0)


def unfold(flow: np.ndarray, crop_size: int) -> np.ndarray:
    """`flow` (G×G×2 float32 crop pixels) with the grid points of its folded squares, and their neighbours,
    refilled harmonically from the points around them; `flow` itself when nothing folds. A harmonic fill of an
    irregular patch can itself fold a little at its rim (a Laplace solve is injective only on convex patches),
    so what still folds is grown into the patch and solved again, up to ROUNDS times."""
    folded = folded_cells(flow, crop_size)
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
        out = _harmonic_fill(flow, unknown)
        folded = folded_cells(out, crop_size)
        if not folded.any():
            break
    return out


def _harmonic_fill(flow: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """`flow` with its `unknown` cells (G×G bool) each the mean of its neighbours inside the grid: a discrete
    Laplace equation, the known cells on its right-hand side."""
    g = flow.shape[0]
    cells = np.argwhere(unknown)
    index = np.full((g, g), -1)
    index[unknown] = np.arange(len(cells))
    known = flow.astype(np.float64)
    system = np.zeros((len(cells), len(cells)))
    rhs = np.zeros((len(cells), 2))
    rows = np.arange(len(cells))
    for dr, dc in _STEPS:
        r, c = cells[:, 0] + dr, cells[:, 1] + dc
        inside = (r >= 0) & (r < g) & (c >= 0) & (c < g)
        k, r, c = rows[inside], r[inside], c[inside]
        system[k, k] += 1
        neighbour = index[r, c]
        free = neighbour >= 0
        np.subtract.at(system, (k[free], neighbour[free]), 1)
        np.add.at(rhs, k[~free], known[r[~free], c[~free]])
    out = flow.astype(np.float32, copy=True)
    out[unknown] = np.linalg.solve(system, rhs).astype(np.float32)
    return out
