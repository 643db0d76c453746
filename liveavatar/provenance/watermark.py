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

The full-frame pattern is made once per output size; marking a frame is then two saturating uint8 passes
(cv2.add / cv2.subtract) plus two masked ones where the picture is busy, ~1.5 ms at 1280×720 with the
busy mask (docs/PROVENANCE.md). Boundary: H×W×3 uint8 RGB (or BGR: the
same change goes to all three channels).
"""

from __future__ import annotations

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
    """(plus, minus, plus_extra, minus_extra): H×W×3 uint8 (read-only). plus - minus is the pattern at
    AMPLITUDE_FLAT (every pixel); plus_extra - minus_extra lifts it to AMPLITUDE where the picture is busy."""
    smooth = smooth_periodic(tile_chips(), height, width, chip_px_for(height))
    low = np.rint(AMPLITUDE_FLAT * smooth)
    high = np.rint(AMPLITUDE * smooth)
    planes = [np.clip(x, 0, 255) for x in (low, -low, high - low, low - high)]
    out = []
    for plane in planes:
        three = np.ascontiguousarray(np.repeat(plane.astype(np.uint8)[:, :, None], 3, axis=2))
        three.setflags(write=False)
        out.append(three)
    return tuple(out)


def busy_mask(image: np.ndarray) -> np.ndarray:
    """H×W uint8, 255 where the picture has texture that hides the full-strength mark, 0 on flat areas
    (a plain background, a wall, a smooth cheek), where even 2 grey levels of pattern can be seen.
    Measured on a quarter-size copy: ~0.5 ms at 1280×720."""
    h, w = image.shape[:2]
    # Every BUSY_SCALE-th pixel of the green channel (most of luma): a strided copy costs ~0.1 ms where a
    # proper area resize costs ~1 ms, and aliasing only adds to the measured texture, which is harmless.
    grey = np.ascontiguousarray(image[::BUSY_SCALE, ::BUSY_SCALE, 1])
    detail = cv2.blur(cv2.convertScaleAbs(cv2.Laplacian(grey, cv2.CV_16S)), (5, 5))
    busy = cv2.threshold(detail, BUSY_LEVEL, 255, cv2.THRESH_BINARY)[1]
    return cv2.resize(busy, (w, h), interpolation=cv2.INTER_NEAREST)


def embed_watermark(image: np.ndarray) -> np.ndarray:
    """Adds the watermark in place to an H×W×3 uint8 frame (saturating at 0 and 255) and returns it."""
    h, w = image.shape[:2]
    plus, minus, plus_extra, minus_extra = frame_pattern(h, w)
    busy = busy_mask(image)
    cv2.add(image, plus, dst=image)
    cv2.subtract(image, minus, dst=image)
    cv2.add(image, plus_extra, dst=image, mask=busy)
    cv2.subtract(image, minus_extra, dst=image, mask=busy)
    return image
