"""Generator G(y, ψ) of Zakharov et al. (2019), §3.2, and the projection P (ψ = P·ê).

G maps a landmark image y (B×3×S×S, [-1, 1]) to a frame x̂ (B×3×S×S, [-1, 1], RGB). In the `warp` presets it
sees the landmark image and the warped crop stacked (B×6×S×S) and returns RGB plus a mask (B×4×S×S, [-1, 1];
liveavatar/models/warp_head.py composites them). Person-specific
information enters only through ψ, an explicit input sliced by the named AdaIN layout, so one exported
graph serves every avatar and switching avatars swaps a vector, not a network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from liveavatar.config import ModelConfig
from liveavatar.models.adain_layout import AdaINLayout, layout_for
from liveavatar.models.blocks import ResBlock, ResBlockDown, ResBlockUp, SelfAttention, adain, conv, linear


class Generator(nn.Module):
    def __init__(self, cfg: ModelConfig, spectral: bool = True):
        super().__init__()
        g = cfg.generator
        self.image_size = cfg.generator_size  # a warp preset's G may paint below the output size
        self.output_size = cfg.image_size
        self.mouth_inside = bool(cfg.warp and cfg.warp.mouth_inside)  # warp presets: see models/warp_head.py
        self.layout: AdaINLayout = layout_for(g)
        size = self.image_size
        self.down = nn.ModuleList()
        self.down_attn_at = -1
        # warp presets: landmark image + warped crop (+ the open mouth's inside, 1 channel) in, RGB + mask out
        in_ch = (7 if cfg.warp.mouth_inside else 6) if cfg.warp else 3
        out_ch_final = 4 if cfg.warp else 3
        for i, out_ch in enumerate(g.down_channels):
            self.down.append(ResBlockDown(in_ch, out_ch, instance_norm=True, spectral=spectral, first=i == 0))
            size //= 2
            if size == g.attn_down_size:
                self.down_attn_at = i
            in_ch = out_ch
        self.down_attn = SelfAttention(g.down_channels[self.down_attn_at], spectral) if self.down_attn_at >= 0 else None
        self.res = nn.ModuleList(ResBlock(in_ch, spectral) for _ in range(g.res_blocks))
        self.up = nn.ModuleList()
        self.up_attn_at = -1
        for i, out_ch in enumerate(g.up_channels):
            self.up.append(ResBlockUp(in_ch, out_ch, spectral))
            size *= 2
            if size == g.attn_up_size:
                self.up_attn_at = i
            in_ch = out_ch
        self.up_attn = SelfAttention(g.up_channels[self.up_attn_at], spectral) if self.up_attn_at >= 0 else None
        expected = self.image_size // 2 if g.pixel_shuffle_head else self.image_size
        if size != expected:
            raise ValueError(f"generator reaches {size}×{size}, expected {expected} for image size {self.image_size}")
        self.pixel_shuffle = g.pixel_shuffle_head
        self.head = conv(in_ch, out_ch_final * 4 if g.pixel_shuffle_head else out_ch_final, 3, spectral)
        if cfg.warp is not None:
            # The mask starts near 1 (tanh(2) → 0.98): an untrained warp preset shows the warped portrait, and
            # training moves the mask off the warp only where painting pays. PixelShuffle(2) takes output
            # channel c from head channels 4c…4c+3, so the mask (channel 3) is the head's last 4 (or last 1).
            bias = self.head.bias
            assert bias is not None  # conv() keeps nn.Conv2d's bias
            with torch.no_grad():
                bias[-4 if g.pixel_shuffle_head else -1 :] = 2.0

    def forward(self, landmarks: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        p = self.layout.split(psi)
        h = landmarks  # B×3×S×S
        for i, block in enumerate(self.down):
            h = block(h)  # B×C_i×S/2^(i+1)×S/2^(i+1)
            if i == self.down_attn_at and self.down_attn is not None:  # at is -1 when there is none
                h = self.down_attn(h)
        for i, block in enumerate(self.res):
            h = block(h, (*p[f"res{i}.norm1"], *p[f"res{i}.norm2"]))  # B×C_bottleneck×s×s
        for i, block in enumerate(self.up):
            h = block(h, (*p[f"up{i}.norm1"], *p[f"up{i}.norm2"]))  # B×C_up_i×2s×2s
            if i == self.up_attn_at and self.up_attn is not None:
                h = self.up_attn(h)
        h = self.head(F.relu(adain(h, *p["head.norm"])))  # B×C(·4)×…, C = 3 (RGB) or 4 (RGB + mask)
        if self.pixel_shuffle:
            h = F.pixel_shuffle(h, 2)  # B×C×S×S
        return torch.tanh(h)


class Projection(nn.Module):
    """P: ê (B×512) → ψ (B×L). A learned matrix without bias, as in the paper.

    Not spectrally normalised: σ(P) = 1 would cap how far ψ can move from the identity AdaIN.
    """

    def __init__(self, embedding_dim: int, psi_size: int):
        super().__init__()
        self.matrix = linear(embedding_dim, psi_size, bias=False, spectral=False)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.matrix(embedding)
