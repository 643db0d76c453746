"""The four networks of one model, built from one ModelConfig.

Inference needs E, P and G; training and fine-tuning also need D. ψ = P·E(x, y) is computed once per
avatar; G(y, ψ) runs every frame.
"""

from __future__ import annotations

import torch
from torch import nn

from liveavatar.config import ModelConfig
from liveavatar.models.blocks import fold_spectral_norm
from liveavatar.models.discriminator import Discriminator
from liveavatar.models.embedder import Embedder
from liveavatar.models.generator import Generator, Projection
from liveavatar.models.warp_head import make_warp


class TalkingHead(nn.Module):
    def __init__(self, cfg: ModelConfig, num_videos: int = 1, spectral: bool = True, discriminator: bool = True):
        super().__init__()
        self.config = cfg
        self.embedder = Embedder(cfg, spectral)
        self.generator = Generator(cfg, spectral)
        self.projection = Projection(cfg.embedding_dim, self.generator.layout.size)
        self.discriminator = Discriminator(cfg, num_videos, spectral) if discriminator else None
        # warp presets: the spline that moves the avatar's crop (no weights; see models/warp_head.py)
        self.warp = make_warp(cfg) if cfg.warp is not None else None

    @property
    def psi_size(self) -> int:
        return self.generator.layout.size

    def psi(self, frames: torch.Tensor, landmarks: torch.Tensor) -> torch.Tensor:
        """K portrait frames and their landmark images (B×K×3×S×S, [-1, 1]) → ψ (B×L)."""
        return self.projection(self.embedder(frames, landmarks))

    def fold_spectral_norm(self) -> TalkingHead:
        fold_spectral_norm(self)
        return self

    @property
    def num_videos(self) -> int:
        return 0 if self.discriminator is None else self.discriminator.video_embeddings.num_embeddings
