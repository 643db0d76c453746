"""PyTorch engine: the reference every other engine is checked against."""

from __future__ import annotations

import time

import numpy as np
import torch

from liveavatar.engines.base import check_inputs
from liveavatar.models.generator import Generator
from liveavatar.models.tensors import to_images, to_tensor


class TorchEngine:
    def __init__(self, generator: Generator, device: str = "cpu"):
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.image_size = generator.image_size
        self.psi_size = generator.layout.size
        self.name = f"torch-{self.device.type}"
        self.last_ms = 0.0

    def infer(self, landmark_images: np.ndarray, psi: np.ndarray) -> np.ndarray:
        check_inputs(self, landmark_images, psi)
        start = time.perf_counter()
        with torch.inference_mode():
            y = to_tensor(landmark_images, self.device)
            out = self.generator(y, torch.from_numpy(np.ascontiguousarray(psi, dtype=np.float32)).to(self.device))
            frames = to_images(out)
        self.last_ms = (time.perf_counter() - start) * 1000.0
        return frames

    def close(self) -> None:
        self.generator = None
