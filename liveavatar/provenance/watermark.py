"""The invisible watermark: a fixed LiveAvatar pattern added to the luma of every output frame.

Method (chosen by measurement, docs/PROVENANCE.md): a periodic spread-spectrum pattern. One TILE_CHIPS×
TILE_CHIPS tile of ±1 chips, drawn once from a fixed seed (the LiveAvatar payload: whoever holds the seed
can look for it, nobody can read anything else out of it), is repeated over the frame with a period of
1/PERIODS_PER_HEIGHT of the frame height, upsampled smoothly (cubic) and added to R, G and B alike, so
luma moves by about AMPLITUDE grey levels (AMPLITUDE_FLAT on flat areas, where more would show) and
chroma not at all.

Why this shape:
- Periodic: any crop larger than one period holds whole periods, so a crop of the face still carries the
  mark; folding the frame onto one period adds the periods up (detection gains with the area).
- Chips of 1/192 of the frame height (3.75 px at 720p), smoothly upsampled: measured against larger chips
  (docs/PROVENANCE.md), small chips give more independent samples per area (a crop of the face holds
  ~30 periods) and still pass H.264 at 500 kbit/s after a downscale to 360p, where a chip is ~2 px: the
  fold adds up thousands of them.
- Tied to the frame height: a scaled copy of the whole frame has the same number of periods per height,
  so detection knows the period; crops are found by trying a range of periods (detect.py).
- Static in time: averaging the frames of a second removes moving content and compression noise.

The full-frame pattern is made once per output size, at both strengths; each thread keeps, per size, the
pattern at the strength the last frame's busy cells chose, and changes it only where they changed (in a live
frame, the moving face's box or nothing), so marking a frame is the busy decision on a quarter-size copy and
two plain saturating uint8 passes (cv2.add / cv2.subtract): ~0.5 ms at 1280×720, where selecting the strength
over the whole frame with two more, masked, passes took ~1.3 ms (docs/PERFORMANCE.md). Every frame gets
exactly the mark it would get on its own. Boundary: H×W×3 uint8 RGB (or BGR: the same change goes to all
three channels).
"""

from __future__ import annotations

import threading
from functools import lru_cache

import cv2
import numpy as np

SEED = 0x4C495645  # "LIVE": the fixed LiveAvatar payload is the tile this seed draws
TILE_CHIPS = 16  # chips per period, per side: 256 chips, so a match stands ~16 sidelobe widths out
PERIODS_PER_HEIGHT = 12  # periods in the frame height: 60 px at 720p, 30 px at 360p
AMPLITUDE = 2.5  # grey levels at a chip's centre where the picture is busy (rounded per pixel)
AMPLITUDE_FLAT = 1.0  # ... and on flat areas, where 2 levels show as a faint texture (seen on a contact sheet)
BUSY_SCALE = 4  # the busy/flat decision is made on a copy this many times smaller
BUSY_LEVEL = 6  # mean |Laplacian| (grey levels, on that copy) from which an area counts as busy


@lru_cache(maxsize=1)
def tile_chips() -> np.ndarray:
    """The payload: TILE_CHIPS×TILE_CHIPS float32 of ±1, balanced (as many +1 as -1: no mean shift)."""
    rng = np.random.default_rng(SEED)
    chips = np.ones(TILE_CHIPS * TILE_CHIPS, np.float32)
    chips[: chips.size // 2] = -1
    rng.shuffle(chips)
    return chips.reshape(TILE_CHIPS, TILE_CHIPS)


def smooth_periodic(chips: np.ndarray, rows: int, cols: int, chip_px: float) -> np.ndarray:
    """The chip grid repeated over rows×cols pixels with chips of chip_px pixels, upsampled with cubic
    interpolation (chip centres at ((i + 0.5)·chip_px)); float32."""
    n = chips.shape[0]
    gy = int(np.ceil(rows / chip_px)) + 4
    gx = int(np.ceil(cols / chip_px)) + 4
    # One extra chip on each side so the interpolation at the borders sees the periodic neighbours.
    grid = np.tile(chips, (gy // n + 2, gx // n + 2))
    grid = np.roll(grid, (1, 1), axis=(0, 1))[: gy + 1, : gx + 1]  # grid[1:, 1:] starts at chip (0, 0)
    # Pixel (y, x) sits at chip coordinate y/chip_px - 0.5 (+1 for the leading extra chip).
    ys = (np.arange(rows, dtype=np.float32) + 0.5) / chip_px - 0.5 + 1
    xs = (np.arange(cols, dtype=np.float32) + 0.5) / chip_px - 0.5 + 1
    map_x, map_y = np.meshgrid(xs, ys)
    return cv2.remap(grid.astype(np.float32), map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def chip_px_for(height: int) -> float:
    return height / (PERIODS_PER_HEIGHT * TILE_CHIPS)


@lru_cache(maxsize=8)
def frame_pattern(height: int, width: int) -> tuple[np.ndarray, ...]:
    """(plus, minus, plus_busy, minus_busy): H×W×3 uint8 (read-only). plus - minus is the pattern at
    AMPLITUDE_FLAT, plus_busy - minus_busy at AMPLITUDE (where the picture is busy). In each pair only one
    plane is nonzero at a pixel, so adding one and subtracting the other, saturating, adds the pattern."""
    smooth = smooth_periodic(tile_chips(), height, width, chip_px_for(height))
    low = np.rint(AMPLITUDE_FLAT * smooth)
    high = np.rint(AMPLITUDE * smooth)
    planes = [np.clip(x, 0, 255) for x in (low, -low, high, -high)]
    out = []
    for plane in planes:
        three = np.ascontiguousarray(np.repeat(plane.astype(np.uint8)[:, :, None], 3, axis=2))
        three.setflags(write=False)
        out.append(three)
    return tuple(out)


def busy_cells(image: np.ndarray) -> np.ndarray:
    """⌈H/BUSY_SCALE⌉×⌈W/BUSY_SCALE⌉ uint8, 255 where the picture has texture that hides the full-strength mark,
    0 on flat areas (a plain background, a wall, a smooth cheek), where even 2 grey levels of pattern can be
    seen. Decided on a BUSY_SCALE-times smaller copy: ~0.1 ms at 1280×720."""
    # Every BUSY_SCALE-th pixel of the green channel (most of luma): a strided copy costs ~0.1 ms where a
    # proper area resize costs ~1 ms, and aliasing only adds to the measured texture, which is harmless.
    grey = np.ascontiguousarray(image[::BUSY_SCALE, ::BUSY_SCALE, 1])
    detail = cv2.blur(cv2.convertScaleAbs(cv2.Laplacian(grey, cv2.CV_16S)), (5, 5))
    return cv2.threshold(detail, BUSY_LEVEL, 255, cv2.THRESH_BINARY)[1]


def busy_mask(image: np.ndarray) -> np.ndarray:
    """H×W uint8: busy_cells enlarged to the image's pixels (nearest)."""
    h, w = image.shape[:2]
    return cv2.resize(busy_cells(image), (w, h), interpolation=cv2.INTER_NEAREST)


class _MarkPlanes:
    """For one frame size: the plus and minus planes (H×W×3 uint8) of the pattern at each pixel's strength
    under the last frame's busy cells, updated only inside the box of the cells that changed since. A live
    frame is mostly the same still portrait and bars, so that box is the face's, or nothing: marking is then
    two plain saturating passes, where selecting the strength over the whole frame took two more, masked."""

    def __init__(self, height: int, width: int) -> None:
        self.plus_flat, self.minus_flat, self.plus_busy, self.minus_busy = frame_pattern(height, width)
        self.plus, self.minus = self.plus_flat.copy(), self.minus_flat.copy()
        cells = (-(-height // BUSY_SCALE), -(-width // BUSY_SCALE))
        self.cells = np.zeros(cells, np.uint8)  # all flat: what plus and minus hold now
        # the cell each pixel row and column reads, exactly as busy_mask's INTER_NEAREST enlargement picks it
        index = np.arange(max(cells), dtype=np.float32)
        row_of = cv2.resize(index[: cells[0], None], (1, height), interpolation=cv2.INTER_NEAREST)
        col_of = cv2.resize(index[None, : cells[1]], (width, 1), interpolation=cv2.INTER_NEAREST)
        self.cell_of_row, self.cell_of_col = row_of[:, 0].astype(np.intp), col_of[0].astype(np.intp)

    def select(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (plus, minus) planes for this frame's busy cells."""
        changed = cv2.compare(cells, self.cells, cv2.CMP_NE)
        x, y, w, h = cv2.boundingRect(changed)
        if w and h:
            r0 = int(np.searchsorted(self.cell_of_row, y, side="left"))
            r1 = int(np.searchsorted(self.cell_of_row, y + h - 1, side="right"))
            c0 = int(np.searchsorted(self.cell_of_col, x, side="left"))
            c1 = int(np.searchsorted(self.cell_of_col, x + w - 1, side="right"))
            # the box's busy pixels (np.take twice: ~0.2 ms for a 600-px box, where numpy's fancy indexing and
            # np.where took 5), then each plane: the flat strength, the busy one copied over it where busy
            busy = np.take(np.take(cells, self.cell_of_row[r0:r1], axis=0), self.cell_of_col[c0:c1], axis=1)
            box = np.s_[r0:r1, c0:c1]
            for plane, flat, strong in (
                (self.plus, self.plus_flat, self.plus_busy),
                (self.minus, self.minus_flat, self.minus_busy),
            ):
                np.copyto(plane[box], flat[box])
                cv2.copyTo(strong[box], busy, plane[box])  # writes into the view
            self.cells = cells.copy()
        return self.plus, self.minus


_planes = threading.local()  # per thread ({(h, w): _MarkPlanes}): two composers on two threads never share one


def embed_watermark(image: np.ndarray) -> np.ndarray:
    """Adds the watermark in place to an H×W×3 uint8 frame (saturating at 0 and 255) and returns it."""
    h, w = image.shape[:2]
    sizes = _planes.__dict__.setdefault("sizes", {})
    planes = sizes.get((h, w))
    if planes is None:
        if len(sizes) >= 2:
            sizes.clear()  # a new output size: the live path keeps one, `pose` one per portrait
        planes = sizes[(h, w)] = _MarkPlanes(h, w)
    plus, minus = planes.select(busy_cells(image))
    cv2.add(image, plus, dst=image)
    cv2.subtract(image, minus, dst=image)
    return image
