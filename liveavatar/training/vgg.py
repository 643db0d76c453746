"""VGG19 and VGGFace feature extractors for the paper's content loss, from local weight files only.

torchvision is not a dependency, so the convolution stacks are defined here, laid out like torchvision's
`vgg19().features` / `vgg16().features` (so a state dict saved from those loads with its own keys). The
taps are the ReLU outputs the paper uses (conv1, 6, 11, 20, 29 of VGG19; conv1, 6, 11, 18, 25 of VGGFace,
i.e. relu1_1 … relu5_1). Weights are never downloaded: the user passes files they already have.

Accepted files: .pth/.pt (a state dict, loaded with weights_only=True) or .safetensors, with keys
`features.N.weight`/`N.weight` (torchvision layout) or `convA_B.weight` (VGGFace converted from Caffe, e.g.
vgg_face_dag.pth). Classifier (fc) weights, if present, are ignored.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from liveavatar.errors import InputError
from liveavatar.files.checks import require_file

M = "M"  # max pooling
VGG19_LAYOUT = (64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M)
VGG16_LAYOUT = (64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M)
VGG19_TAPS = (1, 6, 11, 20, 29)
VGGFACE_TAPS = (1, 6, 11, 18, 25)
# Input normalisation each network was trained with: ImageNet RGB in [0, 1] for VGG19; VGGFace (Caffe)
# RGB in [0, 255] minus the mean face colour, no scaling.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
VGGFACE_MEAN = (129.186279296875, 104.76238250732422, 93.59396362304688)


class VGGFeatures(nn.Module):
    """Frozen VGG convolution stack: images N×3×H×W in [-1, 1] RGB → the activations at `taps`."""

    mean: torch.Tensor  # 1×3×1×1 buffers
    std: torch.Tensor

    def __init__(
        self, layout: tuple, taps: tuple[int, ...], mean: tuple[float, ...], std: tuple[float, ...], scale: float
    ):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for item in layout:
            if item == M:
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, item, 3, padding=1), nn.ReLU(inplace=False)]
                in_ch = item
        self.features = nn.Sequential(*layers[: max(taps) + 1])  # nothing past the last tap is needed
        self.taps = taps
        self.scale = scale
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        h = ((images + 1) * (self.scale / 2) - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                out.append(h)
        return out

    def train(self, mode: bool = True) -> VGGFeatures:
        return super().train(False)  # always frozen, whatever the surrounding module's mode


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    require_file(path, "weight file", "VGG weights are never downloaded; give a local .pth or .safetensors file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        with warnings.catch_warnings():  # a foreign pickle's protocol warning would precede our one line
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many kinds for a damaged or foreign file
        raise InputError(f"{path} is not a readable weight file ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict")
    return state


def _remap(state: dict[str, torch.Tensor], model: VGGFeatures) -> dict[str, torch.Tensor]:
    """Maps the accepted key layouts onto model.features' `features.N.weight` keys."""
    conv_indices = [i for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]
    named = sorted(
        (k for k in state if k.startswith("conv") and k.endswith(".weight")),
        key=lambda k: tuple(int(x) for x in k[4:].split(".")[0].split("_")),
    )
    out = {}
    if named:  # Caffe-style conv1_1 … conv5_3, in order
        for key, index in zip(named, conv_indices, strict=False):
            base = key.rsplit(".", 1)[0]
            out[f"features.{index}.weight"] = state[f"{base}.weight"]
            out[f"features.{index}.bias"] = state[f"{base}.bias"]
        return out
    for key, value in state.items():
        bare = key.removeprefix("module.").removeprefix("features.")
        head = bare.split(".")[0]
        if head.isdigit() and int(head) < len(model.features):
            out[f"features.{bare}"] = value
    return out


def _load(path: str | Path, model: VGGFeatures, what: str) -> VGGFeatures:
    path = Path(path)
    state = _remap(_read_state(path), model)
    own = {k: v for k, v in model.state_dict().items() if k.startswith("features.")}
    missing = sorted(set(own) - set(state))
    wrong = sorted(k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape))
    if missing or wrong:
        raise InputError(
            f"{path} does not hold {what} weights (missing {missing[:3]}, wrong shape {wrong[:3]}); "
            f"give the {what} convolution weights as a state dict"
        )
    model.load_state_dict({k: state[k].float() for k in own}, strict=False)
    return model


def vgg19_features(path: str | Path) -> VGGFeatures:
    model = VGGFeatures(VGG19_LAYOUT, VGG19_TAPS, IMAGENET_MEAN, IMAGENET_STD, scale=1.0)
    return _load(path, model, "VGG19")


def vggface_features(path: str | Path) -> VGGFeatures:
    model = VGGFeatures(VGG16_LAYOUT, VGGFACE_TAPS, VGGFACE_MEAN, (1.0, 1.0, 1.0), scale=255.0)
    return _load(path, model, "VGGFace (VGG-16)")


def feature_l1(net: VGGFeatures, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Σ over taps of the mean absolute difference of activations (real side without gradient)."""
    with torch.no_grad():
        target = net(real)
    return cast(torch.Tensor, sum(F.l1_loss(f, t) for f, t in zip(net(fake), target, strict=True)))
