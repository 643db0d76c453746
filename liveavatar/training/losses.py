"""The losses of meta-learning and fine-tuning (Zakharov et al. 2019, §3.2-3.4).

Generator side (E, P, G):  L = L_CNT + L_ADV + L_MCH
  L_CNT  content: λ_VGG19·Σ‖VGG19(x) − VGG19(x̂)‖₁ + λ_VGGFace·Σ‖VGGFace(x) − VGGFace(x̂)‖₁ when the user gives
         those weights; otherwise the substitute λ_L1·‖x − x̂‖₁ + λ_SSIM·(1 − MS-SSIM(x, x̂)), which needs no
         outside weights (the discriminator's feature matching below adds the perceptual part).
  L_ADV  −D(x̂, y, i) + λ_FM·Σ_j ‖D_j(x, y) − D_j(x̂, y)‖₁ (feature matching over D's blocks, λ_FM = 10)
  L_MCH  λ_MCH·‖ê_i − W_i‖₁ (λ_MCH = 80), W_i held fixed on this side
Discriminator side (D):   max(0, 1 + D(x̂)) + max(0, 1 − D(x)) (hinge) + λ_MCH·‖W_i − ê_i‖₁ with ê fixed,
  so ê and W_i are pulled toward each other, each by its own optimizer.
All losses are computed in float32 whatever the autocast dtype of the networks' outputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from liveavatar.training.vgg import VGGFeatures, feature_l1, vgg19_features, vggface_features


@dataclass(frozen=True)
class LossWeights:
    vgg19: float = 1.5e-1
    vggface: float = 2.5e-2
    l1: float = 10.0
    ssim: float = 5.0
    fm: float = 10.0
    mch: float = 80.0
    mouth: float = 10.0  # warp presets: L1 again inside the target's mouth box (mouth_l1)


# MS-SSIM's per-scale weights (Wang et al. 2003), finest first.
_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW = 11


def _gaussian_window(channels: int, device: torch.device) -> torch.Tensor:
    coords = torch.arange(_WINDOW, dtype=torch.float32, device=device) - _WINDOW // 2
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, _WINDOW, _WINDOW).contiguous()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two N×C×H×W batches in [-1, 1] (Gaussian window 11, σ 1.5, valid region) → N."""
    return ssim_map(a, b).flatten(1).mean(1)


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM at every valid window position of two N×C×H×W batches in [-1, 1] → N×C×(H−10)×(W−10), for
    means over a region (tools/compare_warp_points.py: the face) as well as over the whole image."""
    a, b = (a.float() + 1) / 2, (b.float() + 1) / 2
    c = a.shape[1]
    w = _gaussian_window(c, a.device)
    mu_a, mu_b = F.conv2d(a, w, groups=c), F.conv2d(b, w, groups=c)
    var_a = F.conv2d(a * a, w, groups=c) - mu_a**2
    var_b = F.conv2d(b * b, w, groups=c) - mu_b**2
    cov = F.conv2d(a * b, w, groups=c) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))


def ms_ssim_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Multi-scale structural dissimilarity: Σ_s w_s·(1 − SSIM_s) over as many of MS-SSIM's five scales as
    the image allows (3 at 64 px, 5 at 256 px), weights renormalised. A weighted mean rather than MS-SSIM's
    product of powers: the product's gradient explodes when a scale's contrast term turns negative early
    in training, the mean's does not."""
    scales = 1
    while scales < len(_MS_WEIGHTS) and fake.shape[-1] >> scales >= _WINDOW * 2:
        scales += 1
    weights = _MS_WEIGHTS[:scales]
    total = fake.new_zeros((), dtype=torch.float32)
    a, b = fake.float(), real.float()
    for i, w in enumerate(weights):
        if i:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        total = total + w * (1 - ssim(a, b)).mean()
    return total / sum(weights)


def feature_matching(real_feats: list[torch.Tensor], fake_feats: list[torch.Tensor]) -> torch.Tensor:
    """Σ over D's blocks of the mean |D_j(x) − D_j(x̂)| (real activations carry no gradient)."""
    pairs = zip(real_feats, fake_feats, strict=True)
    return cast(torch.Tensor, sum(F.l1_loss(f.float(), r.detach().float()) for r, f in pairs))


def hinge_d(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_scores.float()).mean() + F.relu(1 + fake_scores.float()).mean()


def embedding_match(moving: torch.Tensor, fixed: torch.Tensor) -> torch.Tensor:
    """‖moving − fixed‖₁ averaged over batch and dimensions; `fixed` carries no gradient."""
    return F.l1_loss(moving.float(), fixed.detach().float())


class ContentLoss(nn.Module):
    """L_CNT: the paper's VGG19 + VGGFace terms for whichever weights were given, else the substitute."""

    def __init__(self, weights: LossWeights, vgg19: VGGFeatures | None = None, vggface: VGGFeatures | None = None):
        super().__init__()
        self.weights = weights
        self.vgg19 = vgg19
        self.vggface = vggface

    @property
    def terms(self) -> list[str]:
        names = [n for n, net in (("vgg19", self.vgg19), ("vggface", self.vggface)) if net is not None]
        return names or ["l1", "ms_ssim"]

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """fake, real: N×3×S×S in [-1, 1] → (weighted total, unweighted terms)."""
        fake, real = fake.float(), real.float()
        w = self.weights
        parts: dict[str, torch.Tensor] = {}
        total = fake.new_zeros(())
        if self.vgg19 is None and self.vggface is None:
            parts["l1"] = F.l1_loss(fake, real)
            parts["ms_ssim"] = ms_ssim_loss(fake, real)
            return w.l1 * parts["l1"] + w.ssim * parts["ms_ssim"], parts
        if self.vgg19 is not None:
            parts["vgg19"] = feature_l1(self.vgg19, fake, real)
            total = total + w.vgg19 * parts["vgg19"]
        if self.vggface is not None:
            parts["vggface"] = feature_l1(self.vggface, fake, real)
            total = total + w.vggface * parts["vggface"]
        return total, parts


def build_content_loss(
    weights: LossWeights, vgg19_path: str | Path | None, vggface_path: str | Path | None
) -> ContentLoss:
    vgg19 = vgg19_features(vgg19_path) if vgg19_path else None
    vggface = vggface_features(vggface_path) if vggface_path else None
    return ContentLoss(weights, vgg19, vggface)


def describe_losses(content: ContentLoss, warp: bool = False) -> dict[str, object]:
    """What the run's metadata records about its losses (`warp`: the warp presets' mouth term too)."""
    w = asdict(content.weights)
    used = {t: w["ssim" if t == "ms_ssim" else t] for t in content.terms}
    return {
        **({"mouth_l1": w["mouth"]} if warp else {}),
        "content": used,
        "content_kind": "paper (VGG)"
        if content.vgg19 is not None or content.vggface is not None
        else "substitute (L1 + MS-SSIM, no outside weights)",
        "adversarial": "hinge, feature matching",
        "feature_matching": w["fm"],
        "embedding_match": w["mch"],
        "discriminator": "hinge + embedding match",
    }


MOUTH = slice(48, 68)  # the 68-point scheme's outer and inner lips


def mouth_l1(fake: torch.Tensor, real: torch.Tensor, points: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    """L1 of two B×3×S×S frames inside each target's mouth box (B×68×2 crop pixels; the lips' bounding box
    grown by `margin` of its size per side), averaged over the box's pixels.

    Why: the mouth's inside is what the warp presets' G must paint, and it covers ~2 % of the crop, so the
    whole-frame L1 barely notices a grey mouth where teeth should be; this term weighs the box as a frame.
    """
    size = fake.shape[-1]
    lips = points[:, MOUTH].float()
    low, high = lips.amin(1), lips.amax(1)  # B×2
    grow = (high - low) * margin + 2
    low, high = low - grow, high + grow
    c = torch.arange(size, device=fake.device, dtype=torch.float32)
    in_x = (c[None] >= low[:, :1]) & (c[None] <= high[:, :1])  # B×S
    in_y = (c[None] >= low[:, 1:]) & (c[None] <= high[:, 1:])
    box = (in_y[:, :, None] & in_x[:, None, :]).float()[:, None]  # B×1×S×S
    diff = (fake.float() - real.float()).abs() * box
    return diff.sum() / (box.sum() * fake.shape[1]).clamp_min(1)
