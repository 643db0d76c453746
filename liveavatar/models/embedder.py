"""Embedder E(x, y) of Zakharov et al. (2019), §3.2: a frame and its landmark image → ê ∈ R^512.

For K frames of one person the per-frame embeddings are averaged (ê = 1/K Σ E(x_k, y_k)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from liveavatar.config import EmbedderConfig, ModelConfig
from liveavatar.models.blocks import ResBlockDown, SelfAttention, linear


class DownTrunk(nn.Module):
    """Residual downsampling trunk over a (frame, landmark image) pair with self-attention at one size.

    Shared shape for E and for D's V; returns the final features and every block's output (D uses
    them for the feature-matching loss). `work_size` below `image_size` average-pools the inputs first:
    the warp presets' E and D see what their G paints at (ModelConfig.generator_size), a quarter of the
    pixels, which is most of what a training step costs on a CPU.
    """

    def __init__(self, image_size: int, channels: tuple[int, ...], attn_size: int, spectral: bool, work_size: int = 0):
        super().__init__()
        self.blocks = nn.ModuleList()
        self.attn_at = -1
        self.pool = image_size // work_size if work_size and work_size < image_size else 1
        in_ch, size = 6, image_size // self.pool
        for i, out_ch in enumerate(channels):
            self.blocks.append(ResBlockDown(in_ch, out_ch, instance_norm=False, spectral=spectral, first=i == 0))
            size //= 2
            if size == attn_size:
                self.attn_at = i
            in_ch = out_ch
        self.attn = SelfAttention(channels[self.attn_at], spectral) if self.attn_at >= 0 else None

    def forward(self, frames: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = torch.cat([frames, landmarks], dim=1)  # N×6×S×S
        if self.pool > 1:
            h = F.avg_pool2d(h, self.pool)  # N×6×(S/pool)×(S/pool)
        features = []
        for i, block in enumerate(self.blocks):
            h = block(h)  # N×C_i×S/2^(i+1)×…
            if i == self.attn_at and self.attn is not None:  # attn_at is -1 when there is none
                h = self.attn(h)
            features.append(h)
        return h, features


class Embedder(nn.Module):
    def __init__(self, cfg: ModelConfig, spectral: bool = True):
        super().__init__()
        e: EmbedderConfig = cfg.embedder
        self.trunk = DownTrunk(cfg.image_size, e.channels, e.attn_size, spectral, cfg.generator_size)
        self.out = linear(e.channels[-1], cfg.embedding_dim, spectral=spectral)

    def embed_frames(self, frames: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """Per-frame embeddings: frames, landmarks N×3×S×S in [-1, 1] → N×512."""
        h, _ = self.trunk(frames, landmarks)
        pooled = F.relu(h).sum(dim=(2, 3))  # N×C, global sum pooling as in the paper
        return self.out(pooled)

    def forward(self, frames: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """frames, landmarks B×K×3×S×S in [-1, 1] → ê B×512 (mean over the K frames)."""
        b, k = frames.shape[:2]
        per_frame = self.embed_frames(frames.flatten(0, 1), landmarks.flatten(0, 1))  # BK×512
        return per_frame.view(b, k, -1).mean(dim=1)
