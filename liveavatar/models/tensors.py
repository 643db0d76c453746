"""Conversions between the pipeline's uint8 RGB images and the networks' float tensors.

Images: H×W×3 (or N×H×W×3) uint8 RGB. Tensors: N×3×H×W float32 in [-1, 1], RGB.
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor(images: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    batch = images[None] if images.ndim == 3 else images
    t = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_images(tensor: torch.Tensor) -> np.ndarray:
    """N×3×H×W in [-1, 1] → N×H×W×3 uint8."""
    t = tensor.detach().float().clamp(-1, 1).add(1.0).mul(127.5).round().to(torch.uint8)
    return t.permute(0, 2, 3, 1).cpu().numpy()
