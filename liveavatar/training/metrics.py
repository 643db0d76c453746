"""Image and landmark metrics for self- and cross-reenactment (what `liveavatar eval` reports).

Images are H×W×3 uint8 RGB. SSIM uses the Gaussian window of training.losses.ssim (11 px, σ 1.5) on
[0, 1] intensities, averaged over channels; PSNR is on 0-255; L1 is the mean absolute difference on [0, 1].
Landmark error: mediapipe's 68 points on the generated frame against the driving landmarks, mean
Euclidean distance over the 68 points divided by the driving landmarks' inter-ocular distance (outer eye
corners, points 36 and 45), so 0.05 means "5% of the eye distance".
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from liveavatar.models.tensors import unit_from_uint8
from liveavatar.training.losses import ssim

# mediapipe's face detector needs faces of ~100 px; small model outputs (tiny: 64 px) are enlarged first.
MIN_TRACKING_SIZE = 256
OUTER_EYE_CORNERS = (36, 45)


def image_metrics(generated: np.ndarray, real: np.ndarray) -> dict[str, np.ndarray]:
    """N×S×S×3 uint8 each → per-image {"ssim", "psnr", "l1"} (float64 arrays of N)."""
    g = torch.from_numpy(generated).permute(0, 3, 1, 2).double()
    r = torch.from_numpy(real).permute(0, 3, 1, 2).double()
    mse = ((g - r) ** 2).flatten(1).mean(1)
    psnr = torch.where(mse > 0, 10 * torch.log10(255.0**2 / mse.clamp_min(1e-12)), torch.full_like(mse, 100.0))
    l1 = (g - r).abs().flatten(1).mean(1) / 255.0
    s = ssim(unit_from_uint8(g), unit_from_uint8(r)).double()
    return {"ssim": s.numpy(), "psnr": psnr.numpy(), "l1": l1.numpy()}


def inter_ocular(points68: np.ndarray) -> float:
    a, b = OUTER_EYE_CORNERS
    return float(np.linalg.norm(points68[a] - points68[b]))


def landmark_error(tracker, image: np.ndarray, target68: np.ndarray) -> float | None:
    """Normalised landmark error of one generated image (see module docstring); None if no face is found."""
    size = image.shape[0]
    scale = max(1.0, MIN_TRACKING_SIZE / size)
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else image
    found = tracker.track(np.ascontiguousarray(big)).landmarks
    if found is None:
        return None
    points = (found.points68 + 0.5) / scale - 0.5  # back to the image's pixel-centre coordinates
    distance = np.linalg.norm(points - target68, axis=1).mean()
    return float(distance / max(inter_ocular(target68), 1e-6))


def mean_or_none(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None
