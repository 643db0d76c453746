"""Thin-plate-spline warp of an avatar's texture from the portrait's landmarks to the driven ones.

Training-free: it moves the portrait's own pixels, so identity survives; it cannot open a mouth or close an
eye, which is what the generator of the `warp` presets paints on top (see liveavatar/models/warp_head.py).

Spaces and shapes: points are (x, y) in crop pixels with pixel centres at integers (OpenCV's convention);
textures are N×C×S×S. Internally points are unit coordinates u = (x + 0.5) / S, so grid_sample's
normalised coordinate (align_corners=False) is simply 2u − 1.

The forward spline f maps the portrait (source) to the driven face: f(q) = q + a₀ + A·q + Σᵢ wᵢ U(|q − sᵢ|),
U(r) = r² log r². Its linear system L depends only on the source points (plus fixed anchors on the crop's
border that keep the background still), so L⁻¹ is computed ONCE per avatar (`tps_inverse`) and the
per-frame coefficients are one matrix product, [w; a] = L⁻¹ · [d − s; 0]: no linear solve in the exported
graph (ONNX has none). grid_sample needs the backward map (driven pixel p → source point q with f(q) = p);
a first-order guess q = p − u(p) and a few Newton steps with f's analytic Jacobian on a coarse grid find
it, and the coarse map is upsampled to S×S. Everything is opset-16 ONNX (MatMul, Log, Resize, GridSample).
The system and its inverse are numpy only (liveavatar/models/tps_system.py), so avatars are built without
PyTorch; this module re-exports them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from liveavatar.models.tps_system import (  # noqa: F401  (re-exported: the torch-free half of the spline)
    BORDER_ANCHORS,
    border_anchors,
    to_unit,
    tps_inverse,
)

LOG_FLOOR = 1e-12  # r² under this is taken as this inside the log: 0·log 0 is 0, not NaN


def _log_r2(r2):
    """log r², floored at LOG_FLOOR. A floor, not an added epsilon: the ONNX exporter folds `r2 + 1e-12` away,
    and the shipped frame graph put NaN in a coarse cell whose Newton iterate met a control point (a square of
    the portrait's background in the output, seen on a real clip); a Clip survives the export."""
    return r2.clamp_min(LOG_FLOOR).log() if isinstance(r2, torch.Tensor) else np.log(np.maximum(r2, LOG_FLOOR))


def _kernel(r2):
    # U(r) = r² log r², 0 at r = 0, in numpy, torch and ONNX alike
    return r2 * _log_r2(r2)


def tps_inverse_torch(points: torch.Tensor, size: int, anchors: int = BORDER_ANCHORS, regularization: float = 0.0):
    """Batched `tps_inverse` for training (N×P×2 → N×(P+K+3)×(P+K+3)), differentiable-free, on points' device."""
    batch = points.shape[0]
    ring = torch.as_tensor(border_anchors(anchors), dtype=torch.float64, device=points.device)
    src = torch.cat([to_unit(points.double(), size), ring.expand(batch, -1, -1)], dim=1)
    n = src.shape[1]
    r2 = ((src[:, :, None, :] - src[:, None, :, :]) ** 2).sum(-1)
    system = torch.zeros(batch, n + 3, n + 3, dtype=torch.float64, device=points.device)
    system[:, :n, :n] = _kernel(r2) + regularization * torch.eye(n, dtype=torch.float64, device=points.device)
    system[:, :n, n] = 1.0
    system[:, :n, n + 1 :] = src
    system[:, n, :n] = 1.0
    system[:, n + 1 :, :n] = src.transpose(1, 2)
    return torch.linalg.inv(system).float()


def squared_distances(q: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """|q − s|² for points q (N×M×2) and centres src (N×n×2) → N×M×n, as |q|² + |s|² − 2 q·s: one matrix
    product instead of an N×M×n×2 difference (the frame graph's costliest elementwise op, 4 of them a frame).
    About the crop's centre, so the terms stay ≤ 0.5 and float32 loses less to their cancellation; floored at
    0, where the expansion can dip below it near a centre (U = r² log r² is ~0 there either way)."""
    q, src = q - 0.5, src - 0.5
    cross = q @ src.transpose(1, 2)
    return ((q * q).sum(-1, keepdim=True) + (src * src).sum(-1)[:, None, :] - 2 * cross).clamp_min(0.0)


class TpsWarp(nn.Module):
    """texture (N×C×S×S), source points, L⁻¹, driven points (N×P×2 crop pixels) → warped texture, grid.

    `coarse` is the side of the grid the backward map is solved on (then upsampled bilinearly to S);
    `steps` the Newton steps. The grid returned is grid_sample's (N×S×S×2, normalised, x first).
    """

    def __init__(self, size: int, anchors: int = BORDER_ANCHORS, coarse: int = 64, steps: int = 4):
        super().__init__()
        self.size = size
        self.coarse = min(coarse, size)
        self.steps = steps
        # Constants, not buffers: the warp has no state, so checkpoints (which list every buffer) stay as they are.
        self._anchors = border_anchors(anchors).astype(np.float32)  # K×2 unit coordinates
        c = (np.arange(self.coarse, dtype=np.float32) + 0.5) / self.coarse
        self._cells = np.stack(np.meshgrid(c, c, indexing="xy"), axis=-1).reshape(1, -1, 2)  # 1×G²×2, (x, y)

    def displacement(self, q: torch.Tensor, src: torch.Tensor, coeff: torch.Tensor) -> torch.Tensor:
        """u(q) = f(q) − q at unit points q (N×M×2) for centres src (N×n×2) and coefficients (N×(n+3)×2)."""
        n = src.shape[1]
        affine = coeff[:, n : n + 1] + q @ coeff[:, n + 1 :]  # N×M×2: a₀ + A·q
        return _kernel(squared_distances(q, src)) @ coeff[:, :n] + affine

    def newton_step(self, q: torch.Tensor, p: torch.Tensor, src: torch.Tensor, coeff: torch.Tensor) -> torch.Tensor:
        """One Newton step towards f(q) = p with f's analytic 2×2 Jacobian (closed-form inverse, no solve op).

        A plain fixed-point q ← p − u(q) diverges where the map stretches by more than 2 (a mouth opening
        pulls the inner lips, which coincide on a closed-mouth portrait, apart); Newton does not.
        """
        n = src.shape[1]
        r2 = squared_distances(q, src)  # N×M×n
        weights = coeff[:, :n]  # N×n×2
        residual = p - (q + _kernel(r2) @ weights + coeff[:, n : n + 1] + q @ coeff[:, n + 1 :])  # N×M×2
        slope = 2 * (_log_r2(r2) + 1)  # dU/dq = 2(q − s)(log r² + 1)
        # ∂u/∂x = Σᵢ (q_x − sᵢₓ)·slopeᵢ·wᵢ = q_x·(slope @ w) − slope @ (sₓ·w): three products of the M×n slope,
        # where the direct sum built two M×n×2 tensors per step (the graph's costliest elementwise ops).
        sw = slope @ torch.cat([weights, src[..., 0:1] * weights, src[..., 1:2] * weights], dim=-1)  # N×M×6
        dx = q[..., 0:1] * sw[..., 0:2] - sw[..., 2:4] + coeff[:, n + 1 : n + 2]  # N×M×2: ∂u/∂x (for u_x, u_y)
        dy = q[..., 1:2] * sw[..., 0:2] - sw[..., 4:6] + coeff[:, n + 2 : n + 3]  # ∂u/∂y
        a, c = 1 + dx[..., 0], dx[..., 1]  # ∂f_x/∂x, ∂f_y/∂x
        b, e = dy[..., 0], 1 + dy[..., 1]  # ∂f_x/∂y, ∂f_y/∂y
        det = (a * e - b * c).clamp_min(0.05)  # a fold (det ≤ 0) has no inverse: take a bounded step instead
        rx, ry = residual[..., 0], residual[..., 1]
        return q + torch.stack([(e * rx - b * ry) / det, (a * ry - c * rx) / det], dim=-1)

    def backward_shift(self, source: torch.Tensor, inverse: torch.Tensor, driven: torch.Tensor) -> torch.Tensor:
        """The backward map on the coarse grid: N×2×G×G, for each coarse cell centre p (driven crop) the
        displacement q − p (unit coordinates, x first) to the source point q with f(q) = p. Exactly 0 where
        driven = source (the coefficients are 0): a face that does not move samples itself."""
        batch = source.shape[0]
        ring = torch.as_tensor(self._anchors, device=source.device)[None].expand(batch, -1, -1)
        src = torch.cat([to_unit(source, self.size), ring], dim=1)  # N×n×2
        dst = torch.cat([to_unit(driven, self.size), ring], dim=1)
        rhs = torch.cat([dst - src, torch.zeros_like(src[:, :3])], dim=1)  # N×(n+3)×2
        coeff = inverse @ rhs
        p = torch.as_tensor(self._cells, device=source.device).expand(batch, -1, -1)
        q = p - self.displacement(p, src, coeff)  # first-order guess, exact for a pure translation
        for _ in range(self.steps):
            q = self.newton_step(q, p, src, coeff)
        g = self.coarse
        return (q - p).reshape(batch, g, g, 2).permute(0, 3, 1, 2)  # N×2×G×G

    def sample(self, texture: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """texture N×C×S×S moved by a coarse backward shift (backward_shift's) → (warped texture, grid)."""
        if shift.shape[-1] != self.size:
            shift = F.interpolate(shift, size=(self.size, self.size), mode="bilinear", align_corners=False)
        c = (torch.arange(self.size, dtype=texture.dtype, device=texture.device) + 0.5) / self.size
        base = torch.stack(torch.meshgrid(c, c, indexing="xy"), dim=0)[None]  # 1×2×S×S
        grid = ((base + shift) * 2 - 1).permute(0, 2, 3, 1)  # N×S×S×2
        warped = F.grid_sample(texture, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return warped, grid

    def forward(
        self, texture: torch.Tensor, source: torch.Tensor, inverse: torch.Tensor, driven: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sample(texture, self.backward_shift(source, inverse, driven))
