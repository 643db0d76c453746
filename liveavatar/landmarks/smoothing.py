"""The One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) over arrays of landmark coordinates.

A low-pass filter whose cutoff rises with speed: still faces get heavy smoothing (no jitter), moving ones
little (no lag). Each array element is filtered independently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    """min_cutoff (Hz): cutoff at rest; lower means less jitter, more lag when slow.
    beta (1/unit): how fast the cutoff grows with speed (units/s of the signal, e.g. pixels/s); higher means
    less lag when fast. d_cutoff (Hz): cutoff of the speed estimate itself.
    The defaults suit landmark pixels of a 256-720 px face at 25-60 fps.
    """

    min_cutoff: float = 1.0
    beta: float = 0.02
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if self.min_cutoff <= 0 or self.d_cutoff <= 0 or self.beta < 0:
            raise ValueError(f"One-Euro needs min_cutoff > 0, d_cutoff > 0 and beta >= 0, got {self}")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass with this cutoff (Hz) at sample interval dt (s)."""
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filters a stream of same-shaped float arrays (e.g. 68×2 points) sampled at timestamps in seconds."""

    def __init__(self, params: OneEuroParams | None = None) -> None:
        self.params = params or OneEuroParams()
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t = 0.0

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """The filtered value of sample x taken at time t (seconds): a new array of x's float dtype."""
        x = np.asarray(x)
        out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        x = x.astype(np.float64)  # the state stays float64 so slow drifts are not lost to rounding
        if self._x is None:
            self._x, self._dx, self._t = x, np.zeros_like(x), t
            return x.astype(out_dtype)
        if x.shape != self._x.shape:
            raise ValueError(f"sample shape {x.shape} differs from the stream's {self._x.shape}; reset() first")
        dt = t - self._t
        if dt <= 0:
            # A repeated or out-of-order timestamp carries no speed information: keep the estimate.
            return self._x.astype(out_dtype)
        p = self.params
        dx = (x - self._x) / dt
        self._dx = self._dx + _alpha(p.d_cutoff, dt) * (dx - self._dx)
        cutoff = p.min_cutoff + p.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._t = t
        return self._x.astype(out_dtype)

    def reset(self) -> None:
        """Forgets the stream (e.g. when the face is lost); the next sample passes through unfiltered."""
        self._x = None
        self._dx = None
