"""The `warp` presets' per-frame graph: export to ONNX and run on ONNX Runtime (liveavatar/models/warp_head.py).

warp_frame.onnx (opset 18, weights inside, one file):
  landmarks N×S×S×3 uint8 RGB, psi N×L float32, texture 1×S×S×3 uint8 RGB (the avatar's crop),
  source 1×70×2 float32 and inverse 1×n×n float32 (the avatar's control points: 68 landmarks and 2 iris
  centres, liveavatar.landmarks.irises; and the spline's L⁻¹ over them), driven N×70×2 float32 (crop pixels)
  → frame N×S×S×3 uint8 RGB (the composite at the crop's size),
  flow N×G×G×2 float32 (the spline's backward map on its coarse grid: for each cell centre of the driven crop,
  the displacement in crop pixels, x first, to the portrait point it shows) and paint N×S×S×4 uint8 (G's
  colours, RGB, and A = 255·(1 − mask): how much of them covers the moved portrait). flow and paint are what
  the full-resolution composite (liveavatar.render.full_resolution) needs to move the whole portrait.
Everything per avatar is an input, never a constant, so one graph serves every avatar of a checkpoint, as
the paper's generator graph does; the warp, grid_sample and composite run inside it. The graph carries the
same metadata as the generator graphs (engines.graph_writer; graph "warp_frame"), so the engines and the
cache check it the same way. Live, engines.ort_engine.OrtEngine runs it (the ONNX Runtime engines) and
engines.torch_engine.TorchWarpEngine runs WarpFrameIO (the PyTorch reference).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from liveavatar.engines.base import WARP_OUTPUTS
from liveavatar.engines.graphs import to_uint8_images, to_unit_range
from liveavatar.models.generator import Generator
from liveavatar.models.talking_head import TalkingHead
from liveavatar.models.warp_head import render_layers
from liveavatar.types import WarpAvatar, WarpLayers

INPUTS = ["landmarks", "psi", "texture", "source", "inverse", "driven"]


class WarpFrameIO(nn.Module):
    """`render_frame` with uint8 RGB images at its boundary. generator: a fine-tuned avatar's G in place of
    the checkpoint's (the warp has no weights, so it is always the model's)."""

    def __init__(self, model: TalkingHead, generator: Generator | None = None):
        super().__init__()
        if model.warp is None:
            raise ValueError(f"preset {model.config.preset!r} is not a warp preset")
        self.generator = generator if generator is not None else model.generator
        self.warp = model.warp

    def forward(self, landmarks, psi, texture, source, inverse, driven) -> tuple[torch.Tensor, ...]:
        y = to_unit_range(landmarks, torch.float32)  # N×3×S×S
        t = to_unit_range(texture, torch.float32)  # 1×3×S×S
        layers = render_layers(self.generator, self.warp, y, psi, t, source, inverse, driven)
        size = t.shape[-1]
        flow = (layers.shift * size).permute(0, 2, 3, 1)  # N×G×G×2 crop pixels
        alpha = (1 - layers.mask) * 2 - 1  # [-1, 1] like the colours, so one conversion rounds both
        paint = to_uint8_images(torch.cat([layers.rgb, alpha], dim=1))  # N×S×S×4
        return to_uint8_images(layers.frame), flow.contiguous(), paint  # frame N×S×S×3 uint8


def example_inputs(model: TalkingHead, points: np.ndarray, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """Inputs of the right shapes and kinds: landmark images drawn from `points` (68×2 crop pixels), the
    irises at the eyes' centres."""
    from liveavatar.landmarks.irises import with_eye_centres
    from liveavatar.models.tps_system import tps_inverse
    from liveavatar.render.rasterize import rasterize_landmarks

    cfg = model.config
    size = cfg.image_size
    mark = torch.from_numpy(rasterize_landmarks(points, size))[None].expand(batch, -1, -1, -1).contiguous()
    texture = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8))
    control = with_eye_centres(points)  # 70×2
    inverse = tps_inverse(control, size, cfg.warp.anchors, cfg.warp.regularization)
    source = torch.from_numpy(control)[None]
    driven = source.expand(batch, -1, -1).contiguous()
    psi = torch.zeros(batch, model.psi_size)
    return mark, psi, texture, source, torch.from_numpy(inverse)[None], driven


def export_warp_frame(
    model: TalkingHead,
    points: np.ndarray,
    path: Path,
    checkpoint_sha256: str = "",
    generator: Generator | None = None,
) -> Path:
    """Writes the per-frame graph to `path`, atomically, with its metadata (checkpoint_sha256: the checkpoint
    it came from; generator: a fine-tuned avatar's G). Batch dynamic for the per-frame inputs (landmarks, ψ,
    driven); the per-avatar ones (texture, source, L⁻¹) have batch 1. `points` (68×2 crop pixels) only
    shape the example inputs: any face's landmarks give the same graph."""
    from liveavatar.engines.graph_writer import graph_metadata, weights_sha256, write_graph

    module = WarpFrameIO(model, generator).eval()
    args = example_inputs(model, points, batch=2)
    meta = graph_metadata(
        "warp_frame", model.config, checkpoint_sha256, weights_sha256(module.generator), model.psi_size, "fp32"
    )
    write_graph(module, args, (list(INPUTS), list(WARP_OUTPUTS)), Path(path), meta, batched=(0, 1, 5))
    return Path(path)


def reference_warp_frames(
    model: TalkingHead,
    landmarks: np.ndarray,
    psi: np.ndarray,
    texture: np.ndarray,
    source: np.ndarray,
    inverse: np.ndarray,
    driven: np.ndarray,
    generator: Generator | None = None,
) -> WarpLayers:
    """The PyTorch eager fp32 layers the exported graph is compared with (the graph's inputs, numpy, one
    avatar: texture S×S×3, source 70×2, inverse n×n; landmarks, psi and driven (N×70×2) with a batch)."""
    t = torch.from_numpy
    with torch.inference_mode():
        outputs = WarpFrameIO(model, generator).eval()(
            t(np.ascontiguousarray(landmarks)),
            t(np.ascontiguousarray(psi, np.float32)),
            t(np.ascontiguousarray(texture))[None],
            t(np.ascontiguousarray(source, np.float32))[None],
            t(np.ascontiguousarray(inverse, np.float32))[None],
            t(np.ascontiguousarray(driven, np.float32)),
        )
    return WarpLayers(*(o.numpy() for o in outputs))


def warp_frame_difference(
    path: Path,
    model: TalkingHead,
    points: np.ndarray,
    texture: np.ndarray,
    psi: np.ndarray,
    generator: Generator | None = None,
) -> tuple[int, float]:
    """(max, mean) uint8 levels between the graph at `path` on ONNX Runtime (one frame per call, as live) and
    PyTorch eager fp32, over its uint8 outputs (the frames and the paint layer). The avatar is points[0]
    (crop pixels) with `texture` (S×S×3 uint8 RGB) and ψ (1×L); it is driven by every row of `points`
    (N×70×2 control points, or N×68×2 landmarks: then the irises at the eyes' centres), each drawn by the one
    rasterizer from its 68 landmarks."""
    from liveavatar.engines.graph_info import frame_difference
    from liveavatar.engines.ort_engine import OrtEngine
    from liveavatar.landmarks.irises import with_eye_centres
    from liveavatar.models.tps_system import tps_inverse
    from liveavatar.render.rasterize import rasterize_landmarks

    cfg = model.config
    size = cfg.image_size
    driven = np.ascontiguousarray(points, np.float32)
    if driven.shape[1] == 68:
        driven = with_eye_centres(driven)
    marks = np.stack([rasterize_landmarks(p[:68], size) for p in driven])
    inverse = tps_inverse(driven[0], size, cfg.warp.anchors, cfg.warp.regularization)
    psi = np.repeat(np.asarray(psi, np.float32).reshape(1, -1), len(driven), axis=0)
    engine = OrtEngine(path)
    avatar = WarpAvatar(np.ascontiguousarray(texture, np.uint8), driven[0], inverse)
    got = [engine.infer_layers(marks[i : i + 1], psi[i : i + 1], avatar, driven[i : i + 1]) for i in range(len(driven))]
    expected = reference_warp_frames(model, marks, psi, texture, driven[0], inverse, driven, generator)
    frames = frame_difference(np.concatenate([g.frames for g in got]), expected.frames)
    paint = frame_difference(np.concatenate([g.paint for g in got]), expected.paint)
    return max(frames[0], paint[0]), max(frames[1], paint[1])
