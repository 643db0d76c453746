"""Identity augmentation for the warp presets' episodes: colour, grey, mirror and scale.

The warp presets learn what moving a portrait's pixels cannot show, from a few dozen training people. What
they paint must follow the portrait, not the training people: its colours (a per-channel gain and offset),
black-and-white photos and marble (a grey episode), which way the face looks (a mirrored episode) and how
large it sits in the crop (a zoom and shift). Each transform applies to a whole episode alike, sources and
target, so the episode stays one consistent video.

Frames are B×(K+1)×3×S×S float in [-1, 1], RGB; points B×(K+1)×68×2 float crop pixels (pixel centres at
integers); landmark images B×(K+1)×3×S×S in [-1, 1], drawn again by the one rasterizer after a geometric
transform (its parts have per-side colours, so a mirrored landmark image is not a mirrored drawing).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from liveavatar.models.tensors import unit_from_uint8
from liveavatar.training.data import landmark_images
from liveavatar.training.expression import mouth_opening

# 68-point index of each point's mirror image (the subject's right eye ↔ left eye, and so on).
MIRROR_68 = np.array(
    [*range(16, -1, -1)]  # jaw
    + [*range(26, 16, -1)]  # brows
    + [27, 28, 29, 30]  # nose bridge
    + [35, 34, 33, 32, 31]  # nostrils
    + [45, 44, 43, 42, 47, 46]  # right eye → left eye's mirror
    + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)
GREY_CHANCE = 0.2
MIRROR_CHANCE = 0.5
SCALE_RANGE = (0.9, 1.1)
SHIFT_MAX = 0.04  # of the crop side
# Rec. 601 luma, as OpenCV's RGB2GRAY.
_LUMA = torch.tensor([0.299, 0.587, 0.114])


def recolour(frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random per-channel gain and offset per episode (all its frames alike), so the painted parts
    follow the texture's colours instead of the training people's. frames: B×(K+1)×3×S×S in [-1, 1]."""
    batch = frames.shape[0]
    gain = 1 + (torch.rand(batch, 1, 3, 1, 1, generator=generator) - 0.5) * 0.4  # ×0.8 … ×1.2 per channel
    offset = (torch.rand(batch, 1, 3, 1, 1, generator=generator) - 0.5) * 0.2
    return ((frames + 1) * gain.to(frames.device) - 1 + offset.to(frames.device)).clamp(-1, 1)


def grey(frames: torch.Tensor, generator: torch.Generator, chance: float = GREY_CHANCE) -> torch.Tensor:
    """Turns a random `chance` of the episodes grey (luma in all three channels): black-and-white photos
    and statues are common portraits, and a painted mouth or cheek must not come out pink on them."""
    batch = frames.shape[0]
    chosen = (torch.rand(batch, generator=generator) < chance).to(frames.device)
    luma = (frames * _LUMA.to(frames)[None, None, :, None, None]).sum(2, keepdim=True).expand_as(frames)
    return torch.where(chosen[:, None, None, None, None], luma, frames)


def random_similarity(batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per episode: mirror sign (±1), scale and shift (B×2, fractions of the crop side)."""
    mirror = torch.where(torch.rand(batch, generator=generator) < MIRROR_CHANCE, -1.0, 1.0)
    lo, hi = SCALE_RANGE
    scale = lo + (hi - lo) * torch.rand(batch, generator=generator)
    shift = (torch.rand(batch, 2, generator=generator) * 2 - 1) * SHIFT_MAX
    return mirror, scale, shift


def move_points(points: torch.Tensor, size: int, mirror: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor):
    """B×N×68×2 crop pixels → the same points after each episode's mirror, scale (about the crop centre)
    and shift; a mirrored episode's points are also renumbered (MIRROR_68), so index 36 stays the
    subject's right eye corner."""
    centre = (size - 1) / 2
    x = centre + mirror[:, None, None] * scale[:, None, None] * (points[..., 0] - centre) + shift[:, None, 0:1] * size
    y = centre + scale[:, None, None] * (points[..., 1] - centre) + shift[:, None, 1:2] * size
    moved = torch.stack([x, y], dim=-1)
    flipped = mirror < 0
    moved[flipped] = moved[flipped][:, :, torch.from_numpy(MIRROR_68)]
    return moved


def move_frames(frames: torch.Tensor, mirror: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor):
    """B×N×3×S×S → the same images under move_points' transform (bilinear, edges repeated)."""
    b, n, c, s, _ = frames.shape
    # Output pixel u (normalised, align_corners=False) reads the input at (u − shift)/scale, mirrored in x.
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = mirror / scale
    theta[:, 1, 1] = 1 / scale
    theta[:, 0, 2] = -mirror * shift[:, 0] * 2 / scale
    theta[:, 1, 2] = -shift[:, 1] * 2 / scale
    theta = theta.to(frames).repeat_interleave(n, dim=0)
    grid = F.affine_grid(theta, [b * n, c, s, s], align_corners=False)
    out = F.grid_sample(
        frames.reshape(b * n, c, s, s), grid, mode="bilinear", padding_mode="border", align_corners=False
    )
    return out.reshape(b, n, c, s, s)


def mirror_and_scale(
    frames: torch.Tensor, points: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """An episode batch (frames B×N×3×S×S in [-1, 1], points B×N×68×2 crop pixels) → the moved frames,
    points and freshly drawn landmark images (B×N×3×S×S in [-1, 1]), each episode under its own transform."""
    b, n, _, size, _ = frames.shape
    mirror, scale, shift = random_similarity(b, generator)
    moved_points = move_points(points.float().cpu(), size, mirror, scale, shift)
    drawn = landmark_images(moved_points.reshape(b * n, 68, 2).numpy(), size)  # (B·N)×S×S×3 uint8 RGB
    marks = unit_from_uint8(torch.from_numpy(drawn).permute(0, 3, 1, 2).reshape(b, n, 3, size, size))
    return move_frames(frames, mirror, scale, shift), moved_points.to(points.device), marks.to(frames.device)


def open_mouth_weights(points: np.ndarray) -> torch.Tensor:
    """N×68×2 → N sampling weights for target frames: a wide-open mouth (openness ≥ 0.5) is drawn 9× as
    often as a closed one. Such frames are rare in talking clips (1.6 % of the training frames open wider
    than 0.3) and they are what the warp cannot show; with these weights a quarter of the targets open
    wider than 0.2."""
    openness = mouth_opening(points)
    return torch.from_numpy(1 + 20 * np.clip(openness - 0.1, 0, 0.4)).float()
