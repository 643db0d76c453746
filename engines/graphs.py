"""The modules engines run and export: G and E+P wrapped so images cross the boundary as uint8 RGB.

GeneratorIO: landmark images N×S×S×3 uint8 RGB (0..255) and ψ N×L float32 → frames N×S×S×3 uint8 RGB.
The uint8 → [-1, 1] conversion, NHWC ↔ NCHW and the rounding back to uint8 are part of the graph, so the
live path hands over the rasterizer's output as it is and gets a displayable frame back, and a runtime
fuses the conversions with the first and last layers instead of running them in numpy.

EmbedderIO: K portrait crops and their landmark images (K×S×S×3 uint8 RGB each) → ψ 1×L float32, the
mean embedding over the K portraits projected by P (once per avatar).

`reduced_precision` makes the fp16/bf16 copy of G used by GPU engines: every layer in the low precision
except instance norm, whose variance overflows fp16; AdaIN already keeps its statistics in fp32.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from liveavatar.models.generator import Generator
from liveavatar.models.talking_head import TalkingHead


def to_unit_range(images: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """N×S×S×3 uint8 → N×3×S×S in [-1, 1]; the permuted view is channels-last in memory, as convs like.
    Cast first, then permute: TensorRT takes uint8 only at a network's inputs and outputs, so in the exported
    graph nothing but a Cast may touch the uint8 tensor (tests/test_tensorrt_ops.py)."""
    return images.to(dtype).permute(0, 3, 1, 2) * (1.0 / 127.5) - 1.0


def to_uint8_images(frames: torch.Tensor) -> torch.Tensor:
    """N×3×S×S in [-1, 1] → N×S×S×3 uint8, rounded the way liveavatar.models.tensors.to_images rounds."""
    scaled = ((frames.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round()
    return scaled.permute(0, 2, 3, 1).to(torch.uint8)  # the Cast last, for TensorRT (see to_unit_range)


class GeneratorIO(nn.Module):
    def __init__(self, generator: Generator, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.generator = generator
        self.dtype = dtype

    def forward(self, landmarks: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        # ψ stays float32 at every precision: AdaIN applies it to fp32 statistics.
        x = to_unit_range(landmarks, self.dtype)  # N×3×S×S
        return to_uint8_images(self.generator(x, psi))  # N×S×S×3 uint8


class EmbedderIO(nn.Module):
    def __init__(self, model: TalkingHead):
        super().__init__()
        self.embedder = model.embedder
        self.projection = model.projection

    def forward(self, portraits: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        frames = to_unit_range(portraits, torch.float32)  # K×3×S×S
        marks = to_unit_range(landmarks, torch.float32)
        embedding = self.embedder.embed_frames(frames, marks).mean(dim=0, keepdim=True)  # 1×512
        return self.projection(embedding)  # 1×L


class Fp32InstanceNorm(nn.Module):
    """Runs a wrapped InstanceNorm2d in fp32 inside a reduced-precision network."""

    def __init__(self, norm: nn.InstanceNorm2d):
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.float()).to(x.dtype)


def reduced_precision(generator: Generator, dtype: torch.dtype) -> Generator:
    """A copy of G in `dtype` (fp16/bf16) with instance norms kept in fp32; `generator` is untouched."""
    low = copy.deepcopy(generator)
    for module in list(low.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.InstanceNorm2d):
                setattr(module, name, Fp32InstanceNorm(child))
    low.to(dtype)
    for module in low.modules():
        if isinstance(module, Fp32InstanceNorm):
            module.norm.float()
    return low.eval()
