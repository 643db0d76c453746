"""One frame of the `warp` presets: move the portrait's pixels, paint only what they cannot show.

  warped  = grid_sample(texture, TPS(portrait landmarks → driven landmarks))     (liveavatar/models/warp.py)
  rgb, m  = G([landmark image, warped], ψ)        G: the AdaIN generator, 6 channels in, RGB + mask out
  output  = m·warped + (1 − m)·rgb                 m ∈ [0, 1] per pixel, (tanh + 1) / 2 of G's 4th channel

Per avatar (computed once, stored in the avatar file): ψ, the texture (the aligned portrait crop), the
portrait's 68 landmarks in crop pixels and the spline's L⁻¹ (liveavatar.models.warp.tps_inverse). Per frame:
the landmark image and the driven landmarks. engines/warp_graph.py wraps `render_frame` as one graph with
uint8 RGB images at its boundary (as engines.graphs.GeneratorIO does for the paper's G) and exports it.
"""

from __future__ import annotations

import torch

from liveavatar.config import ModelConfig
from liveavatar.models.generator import Generator
from liveavatar.models.warp import TpsWarp


def make_warp(cfg: ModelConfig) -> TpsWarp:
    if cfg.warp is None:
        raise ValueError(f"preset {cfg.preset!r} has no warp; use a warp preset")
    return TpsWarp(cfg.image_size, anchors=cfg.warp.anchors, coarse=cfg.warp.coarse, steps=cfg.warp.newton_steps)


def composite(generated: torch.Tensor, warped: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """G's B×4×S×S output ([-1, 1]) and the warped texture (B×3×S×S) → (frame B×3×S×S, mask B×1×S×S)."""
    mask = (generated[:, 3:4] + 1) * 0.5
    return mask * warped + (1 - mask) * generated[:, :3], mask


def render_frame(
    generator: Generator,
    warp: TpsWarp,
    landmarks: torch.Tensor,
    psi: torch.Tensor,
    texture: torch.Tensor,
    source: torch.Tensor,
    inverse: torch.Tensor,
    driven: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """landmark images B×3×S×S, ψ B×L, texture B×3×S×S ([-1, 1]), source B×68×2, L⁻¹ B×n×n, driven B×68×2
    → (frame, warped texture, mask). Batch 1 texture/source/inverse broadcast over B driven frames."""
    batch = landmarks.shape[0]
    texture = texture.expand(batch, -1, -1, -1)
    source = source.expand(batch, -1, -1)
    inverse = inverse.expand(batch, -1, -1)
    warped, _ = warp(texture, source, inverse, driven)
    frame, mask = composite(generator(torch.cat([landmarks, warped], dim=1), psi), warped)
    return frame, warped, mask
