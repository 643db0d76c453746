"""Projection discriminator D(x, y, i) = V(x, y)ᵀ(W_i + w0) + b of Zakharov et al. (2019), §3.2.

W holds one column per training video (an nn.Embedding row here); w0 and b are shared. For few-shot
fine-tuning on a new person, `score_with` takes w′ = w0 + ê directly instead of a video index.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from liveavatar.config import ModelConfig
from liveavatar.models.blocks import ResBlock
from liveavatar.models.embedder import DownTrunk


class Discriminator(nn.Module):
    def __init__(self, cfg: ModelConfig, num_videos: int, spectral: bool = True):
        super().__init__()
        d = cfg.discriminator
        self.trunk = DownTrunk(cfg.image_size, d.channels, d.attn_size, spectral, cfg.generator_size)
        self.final = ResBlock(d.channels[-1], spectral)
        self.to_embedding = nn.Linear(d.channels[-1], cfg.embedding_dim, bias=False)
        self.video_embeddings = nn.Embedding(max(num_videos, 1), cfg.embedding_dim)  # W, one row per video
        self.w0 = nn.Parameter(torch.zeros(cfg.embedding_dim))
        self.b = nn.Parameter(torch.zeros(1))
        nn.init.normal_(self.video_embeddings.weight, std=0.02)

    def features(self, frames: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """V(x, y) (N×512) and the intermediate activations used for feature matching."""
        h, feats = self.trunk(frames, landmarks)
        h = self.final(h)
        feats.append(h)
        v = self.to_embedding(F.relu(h).sum(dim=(2, 3)))  # N×512
        return v, feats

    def score_with(self, v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Realism score vᵀw + b for per-sample person vectors w (N×512) → N."""
        return (v * w).sum(dim=1) + self.b

    def forward(
        self, frames: torch.Tensor, landmarks: torch.Tensor, video_index: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """frames, landmarks N×3×S×S in [-1, 1], video_index N (long) → (scores N, features)."""
        v, feats = self.features(frames, landmarks)
        w = self.video_embeddings(video_index) + self.w0
        return self.score_with(v, w), feats
