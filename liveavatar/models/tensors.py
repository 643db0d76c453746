"""Conversions between the pipeline's uint8 RGB images and the networks' float tensors.

Images: H×W×3 (or N×H×W×3) uint8 RGB. Tensors: N×3×H×W float32 in [-1, 1], RGB.
THE uint8 ↔ [-1, 1] rule for PyTorch code (training, evaluation, fine-tuning). The exported graph folds
the same mapping in (engines/graphs.py); it keeps its own copy there because its source is part of the
graph's cache key, and the shipped graphs were exported with it.
"""

from __future__ import annotations

import numpy as np
import torch


def unit_from_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 (any layout) → float32 in [-1, 1]."""
    return images.float() / 127.5 - 1.0  # not in place: a float input must not be changed


def uint8_from_unit(tensor: torch.Tensor) -> torch.Tensor:
    """[-1, 1] (any layout) → uint8, clamped and rounded."""
    return tensor.detach().float().clamp(-1, 1).add(1.0).mul(127.5).round().to(torch.uint8)


def to_tensor(images: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    batch = images[None] if images.ndim == 3 else images
    t = torch.from_numpy(np.ascontiguousarray(batch)).to(device)
    return unit_from_uint8(t.permute(0, 3, 1, 2))


def to_images(tensor: torch.Tensor) -> np.ndarray:
    """N×3×H×W in [-1, 1] → N×H×W×3 uint8."""
    return uint8_from_unit(tensor).permute(0, 2, 3, 1).cpu().numpy()
