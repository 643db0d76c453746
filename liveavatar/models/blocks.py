"""Building blocks shared by E, G and D: residual blocks (BigGAN-style), SAGAN self-attention, AdaIN.

Spectral normalisation is applied to every convolution and linear layer through `spectral` when a network
is built for training; `fold_spectral_norm` bakes σ into the weights for inference and export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations, parametrize

NORM_EPS = 1e-5


def conv(in_ch: int, out_ch: int, kernel: int = 3, spectral: bool = True) -> nn.Conv2d:
    layer = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2)
    if spectral:
        parametrizations.spectral_norm(layer)  # parametrizes the layer in place (and returns it)
    return layer


def linear(in_f: int, out_f: int, bias: bool = True, spectral: bool = True) -> nn.Linear:
    layer = nn.Linear(in_f, out_f, bias=bias)
    if spectral:
        parametrizations.spectral_norm(layer)  # parametrizes the layer in place (and returns it)
    return layer


def fold_spectral_norm(module: nn.Module) -> nn.Module:
    """Replaces every spectral-norm parametrisation by a plain weight equal to W/σ (in place).

    Must run in eval mode: in train mode the parametrisation would take one more power-iteration step
    while folding, and the folded weights would differ from what eval-mode forward computed.
    """
    was_training = module.training
    module.eval()
    for sub in module.modules():
        if parametrize.is_parametrized(sub, "weight"):
            parametrize.remove_parametrizations(sub, "weight", leave_parametrized=True)
    module.train(was_training)
    return module


def folded_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict `module` would have after folding, computed without changing `module`.

    (Folding a deep copy is not an option: copies share the parametrised classes torch creates per
    module, and removing a parametrisation from the copy would break the original.)
    """
    was_training = module.training
    module.eval()
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for prefix, sub in module.named_modules():
            if "parametrizations" in prefix.split("."):
                continue  # the original weight and u, v live here; the folded weight replaces them
            dot = f"{prefix}." if prefix else ""
            if parametrize.is_parametrized(sub, "weight"):
                out[f"{dot}weight"] = sub.weight.detach().clone()
            for name, tensor in list(sub.named_parameters(recurse=False)) + list(sub.named_buffers(recurse=False)):
                out[f"{dot}{name}"] = tensor.detach()
    module.train(was_training)
    return out


def has_spectral_norm(module: nn.Module) -> bool:
    return any(parametrize.is_parametrized(sub) for sub in module.modules())


def adain(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """AdaIN: instance-normalise x (B×C×H×W) then apply per-sample (1 + scale) and shift (B×C each).

    The scale is an offset from 1 so that ψ = 0 is the identity; this keeps freshly initialised
    projections stable and does not change what the layer can express.
    """
    # Statistics in fp32 even under autocast/fp16: the variance of large activations overflows fp16.
    # F.instance_norm exports as one InstanceNormalization node (a graph about half the size of the
    # mean/var arithmetic spelled out, and ~5% faster in ONNX Runtime).
    normed = F.instance_norm(x.float(), eps=NORM_EPS)
    out = normed * (1.0 + scale[:, :, None, None].float()) + shift[:, :, None, None].float()
    return out.to(x.dtype)


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019): x + γ·softmax(QᵀK)V, γ initialised to 0."""

    def __init__(self, channels: int, spectral: bool = True):
        super().__init__()
        inner = max(channels // 8, 1)
        self.query = conv(channels, inner, 1, spectral)
        self.key = conv(channels, inner, 1, spectral)
        self.value = conv(channels, max(channels // 2, 1), 1, spectral)
        self.out = conv(max(channels // 2, 1), channels, 1, spectral)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # B×HW×C/8
        k = self.key(x).flatten(2)  # B×C/8×HW
        v = self.value(x).flatten(2)  # B×C/2×HW
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # B×HW×HW
        o = torch.bmm(v, attn.transpose(1, 2)).reshape(b, -1, h, w)  # B×C/2×H×W
        return x + self.gamma * self.out(o)


class ResBlockDown(nn.Module):
    """Residual downsampling block: (IN) → ReLU → conv → pool → (IN) → ReLU → conv, skip 1×1 conv → pool.

    The second convolution runs after pooling, at half resolution: it costs a quarter of BigGAN's order
    and the receptive field is the same, which matters for a generator that runs every frame.
    """

    def __init__(self, in_ch: int, out_ch: int, instance_norm: bool, spectral: bool = True, first: bool = False):
        super().__init__()
        self.first = first  # no ReLU on raw input pixels
        self.norm1 = nn.InstanceNorm2d(in_ch, affine=True) if instance_norm else nn.Identity()
        self.conv1 = conv(in_ch, out_ch, 3, spectral)
        self.norm2 = nn.InstanceNorm2d(out_ch, affine=True) if instance_norm else nn.Identity()
        self.conv2 = conv(out_ch, out_ch, 3, spectral)
        self.skip = conv(in_ch, out_ch, 1, spectral)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        h = h if self.first else F.relu(h)
        h = F.avg_pool2d(self.conv1(h), 2)
        h = self.conv2(F.relu(self.norm2(h)))
        return h + F.avg_pool2d(self.skip(x), 2)


class ResBlock(nn.Module):
    """Residual block without resampling; with AdaIN (generator) or no norm (discriminator)."""

    def __init__(self, channels: int, spectral: bool = True):
        super().__init__()
        self.conv1 = conv(channels, channels, 3, spectral)
        self.conv2 = conv(channels, channels, 3, spectral)

    def forward(self, x: torch.Tensor, adain_params: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        if adain_params is None:
            h = self.conv1(F.relu(x))
            h = self.conv2(F.relu(h))
        else:
            s1, b1, s2, b2 = adain_params
            h = self.conv1(F.relu(adain(x, s1, b1)))
            h = self.conv2(F.relu(adain(h, s2, b2)))
        return x + h


class ResBlockUp(nn.Module):
    """Residual upsampling block with AdaIN: AdaIN → ReLU → ×2 nearest → conv → AdaIN → ReLU → conv."""

    def __init__(self, in_ch: int, out_ch: int, spectral: bool = True):
        super().__init__()
        self.conv1 = conv(in_ch, out_ch, 3, spectral)
        self.conv2 = conv(out_ch, out_ch, 3, spectral)
        self.skip = conv(in_ch, out_ch, 1, spectral)

    def forward(self, x: torch.Tensor, adain_params: tuple[torch.Tensor, ...]) -> torch.Tensor:
        s1, b1, s2, b2 = adain_params
        h = F.interpolate(F.relu(adain(x, s1, b1)), scale_factor=2.0, mode="nearest")
        h = self.conv1(h)
        h = self.conv2(F.relu(adain(h, s2, b2)))
        return h + self.skip(F.interpolate(x, scale_factor=2.0, mode="nearest"))
