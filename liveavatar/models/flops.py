"""Parameter and FLOP counts of the networks per preset (what `liveavatar info` reports).

FLOPs are counted by torch's FlopCounterMode on one forward at batch 1: 2 FLOPs per multiply-add of
convolutions and matrix products; element-wise work (norms, activations) is not counted.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from liveavatar.config import ModelConfig
from liveavatar.models.talking_head import TalkingHead


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _warp_frame(model: TalkingHead, landmarks: torch.Tensor, psi: torch.Tensor) -> None:
    import numpy as np

    from liveavatar.models.warp import tps_inverse
    from liveavatar.models.warp_head import render_frame

    s, w = model.config.image_size, model.config.warp
    c = np.linspace(0.3, 0.7, 9) * s
    # 70 spread points: the live spline's control points (68 landmarks, 2 irises; liveavatar.types.SPLINE_POINTS)
    points = np.stack(np.meshgrid(c, c), axis=-1).reshape(-1, 2)[:70].astype(np.float32)
    inverse = torch.from_numpy(tps_inverse(points, s, w.anchors, w.regularization))[None]
    source = torch.from_numpy(points)[None]
    render_frame(model.generator, model.warp, landmarks, psi, torch.zeros(1, 3, s, s), source, inverse, source)


def model_summary(cfg: ModelConfig) -> dict[str, Any]:
    model = TalkingHead(cfg, num_videos=1, spectral=False).eval()
    s = cfg.image_size
    landmarks = torch.zeros(1, 3, s, s)
    psi = torch.zeros(1, model.psi_size)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as g_count:
            if model.warp is None:
                model.generator(landmarks, psi)
            else:  # warp presets: the whole frame graph (spline, grid_sample, G on 6 channels, composite)
                _warp_frame(model, landmarks, psi)
        with FlopCounterMode(display=False) as e_count:
            model.psi(torch.zeros(1, 1, 3, s, s), torch.zeros(1, 1, 3, s, s))
    return {
        "preset": cfg.preset,
        "image_size": s,
        "psi_size": model.psi_size,
        "generator": {"params": _params(model.generator), "gflops": g_count.get_total_flops() / 1e9},
        "embedder": {
            "params": _params(model.embedder) + _params(model.projection),
            "gflops": e_count.get_total_flops() / 1e9,
        },
        "discriminator": {"params": _params(model.discriminator) - model.discriminator.video_embeddings.weight.numel()},
    }
