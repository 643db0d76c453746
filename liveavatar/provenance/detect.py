"""Finding the watermark (watermark.py) in images and in the frames of a video.

A window of frames (a still is a window of one) is averaged in luma, its slow content removed (the mark
sits in chips of 1/192 of the frame height; the picture's large shapes are much stronger there), then
resampled so that one period of the mark becomes TILE_PX pixels, folded onto one period (every whole
period summed) and cross-correlated with the known tile at every circular shift at once (FFT, phase only:
each frequency counts alike, so neither the picture's strong low frequencies nor the encoder's noise
decides). The score is the correlation peak in standard deviations of the other shifts: a frame without
the mark scores like the largest of ~1000 normal samples (about 3-4), a marked one far higher.

The period is 1/12 of the frame height in LiveAvatar's output and in any scaled copy of it; a crop keeps
the period in pixels but not its relation to the height, so periods from MIN_PERIOD_PX to the height are
tried too, on the centre CROP_SEARCH_PX square (CROP_PERIOD_STEP apart: the fold tolerates about that much
scale error over a few periods).
Trying more periods raises the scores an unmarked picture can reach, which THRESHOLD covers (its margin
was measured on every clip and portrait in the test data and on their re-encodes: docs/PROVENANCE.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from liveavatar.provenance.watermark import PERIODS_PER_HEIGHT, TILE_CHIPS, smooth_periodic, tile_chips

CHIP_PX = 4  # a chip in the folded tile
TILE_PX = TILE_CHIPS * CHIP_PX
MIN_PERIOD_PX = 24.0  # a 360p frame downscaled to half still has 30 px periods; below, block noise rules
CROP_PERIOD_STEP = 1.012
CROP_SEARCH_PX = 512  # the crop search looks at the centre this big: a face, and a bounded cost
FLAT_FLOOR = 4.0  # grey levels² added to the local variance: keeps flat areas' noise from being blown up
THRESHOLD = 8.0  # score at or above which the mark is reported present (docs/PROVENANCE.md: margins)


@dataclass(frozen=True)
class Detection:
    """score: the correlation peak in standard deviations; period_px: the period it was found at (in the
    examined picture's pixels); present: score >= THRESHOLD."""

    score: float
    period_px: float

    @property
    def present(self) -> bool:
        return self.score >= THRESHOLD


def luma(image_rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 RGB → H×W float32 luma (BT.601 weights; the mark moves R, G and B alike)."""
    return cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _reference_spectrum() -> np.ndarray:
    tile = smooth_periodic(tile_chips(), TILE_PX, TILE_PX, float(CHIP_PX))
    return np.conj(np.fft.fft2(tile - tile.mean()))


_REFERENCE = _reference_spectrum()


def _flatten(image: np.ndarray, chip_px: float) -> np.ndarray:
    """The image less its content slower than the mark (a blur a few chips wide), divided by its local
    spread: flat areas, where the mark stands clear, count as much as hair and texture, where it is buried
    (measured: about twice the score of the plain difference)."""
    detail = image - cv2.GaussianBlur(image, (0, 0), max(1.0, 2.0 * chip_px))
    spread = cv2.GaussianBlur(detail * detail, (0, 0), max(1.0, 4.0 * chip_px))
    return detail / np.sqrt(spread + FLAT_FLOOR)


def _score_at(flat: np.ndarray, period_px: float) -> float:
    h, w = flat.shape
    scale = TILE_PX / period_px
    nh, nw = int(h * scale), int(w * scale)
    ny, nx = nh // TILE_PX, nw // TILE_PX
    if ny < 1 or nx < 1:
        return 0.0
    small = cv2.resize(flat, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # The resize keeps pixel 0 at pixel 0, so whole periods from the top-left corner line up.
    folded = small[: ny * TILE_PX, : nx * TILE_PX].reshape(ny, TILE_PX, nx, TILE_PX).sum(axis=(0, 2))
    spectrum = np.fft.fft2(folded)
    magnitude = np.abs(spectrum)
    # Whiten what was seen (every frequency counts alike), then match it against the tile as it is, so
    # frequencies the smooth tile hardly has do not add their noise.
    cross = spectrum / np.maximum(magnitude, 1e-9 * (magnitude.max() + 1e-30)) * _REFERENCE
    surface = np.real(np.fft.ifft2(cross))
    py, px = np.unravel_index(int(np.argmax(surface)), surface.shape)
    # The smooth chips make the peak CHIP_PX wide: its shoulders are not "other shifts".
    near = np.zeros(surface.shape, bool)
    near[
        np.ix_((py + np.arange(-CHIP_PX, CHIP_PX + 1)) % TILE_PX, (px + np.arange(-CHIP_PX, CHIP_PX + 1)) % TILE_PX)
    ] = True
    others = surface[~near]
    spread = float(others.std())
    return float((surface[py, px] - others.mean()) / spread) if spread > 0 else 0.0


def detect_luma(mean_luma: np.ndarray, search_crops: bool = True) -> Detection:
    """The watermark in an H×W float32 luma picture (one frame, or the mean of a window of frames).
    search_crops: also try the periods a crop of a LiveAvatar frame could have (slower, ~100 periods)."""
    h, w = mean_luma.shape
    own = h / PERIODS_PER_HEIGHT
    best = Detection(_score_at(_flatten(mean_luma, own / TILE_CHIPS), own), own)
    if best.present or not search_crops:
        return best
    if h > CROP_SEARCH_PX or w > CROP_SEARCH_PX:
        y0, x0 = max(0, (h - CROP_SEARCH_PX) // 2), max(0, (w - CROP_SEARCH_PX) // 2)
        mean_luma = mean_luma[y0 : y0 + CROP_SEARCH_PX, x0 : x0 + CROP_SEARCH_PX]
        h, w = mean_luma.shape
    period = MIN_PERIOD_PX
    flats: dict[int, np.ndarray] = {}
    while period <= min(h, w):
        # One flattening per octave of periods: the blur need not follow the period closely.
        octave = int(np.log2(period))
        if octave not in flats:
            flats[octave] = _flatten(mean_luma, 2.0**octave * 1.4 / TILE_CHIPS)  # ~the octave's middle
        score = _score_at(flats[octave], period)
        if score > best.score:
            best = Detection(score, period)
        period *= CROP_PERIOD_STEP
    return best


def detect_image(image_rgb: np.ndarray, search_crops: bool = True) -> Detection:
    """The watermark in one H×W×3 uint8 RGB picture."""
    return detect_luma(luma(image_rgb), search_crops)


class WindowDetector:
    """Averages the luma of a window of frames (all the same size) and looks for the mark in the mean."""

    def __init__(self) -> None:
        self._sum: np.ndarray | None = None
        self.frames = 0

    def add(self, image_rgb: np.ndarray) -> None:
        y = luma(image_rgb)
        if self._sum is None or self._sum.shape != y.shape:
            self._sum = np.zeros(y.shape, np.float64)
            self.frames = 0
        self._sum += y
        self.frames += 1

    def result(self, search_crops: bool = True) -> Detection:
        if self._sum is None or self.frames == 0:
            return Detection(0.0, 0.0)
        detection = detect_luma((self._sum / self.frames).astype(np.float32), search_crops)
        self._sum = None
        self.frames = 0
        return detection
