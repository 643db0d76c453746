"""The named layout of ψ: which slice of the AdaIN parameter vector feeds which layer.

ψ = P·ê is one flat vector per avatar (B×L). The generator never indexes it with magic numbers: each
AdaIN layer has a name and a width, and `AdaINLayout.split` hands every layer its (scale, shift) pair.
The layout is a pure function of the generator config, and its version is stored in checkpoints,
avatars and exported graphs so a ψ is never fed to a generator it was not computed for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from liveavatar.config import GeneratorConfig

if TYPE_CHECKING:  # the layout itself is plain data: avatars and the ONNX runtime use it without torch
    import torch

LAYOUT_VERSION = 1


@dataclass(frozen=True)
class AdaINEntry:
    name: str  # e.g. "res0.norm1", "up2.norm2"
    channels: int
    offset: int  # start of [scale (channels) | shift (channels)] in ψ


@dataclass(frozen=True)
class AdaINLayout:
    entries: tuple[AdaINEntry, ...]

    @property
    def size(self) -> int:
        last = self.entries[-1]
        return last.offset + 2 * last.channels

    def split(self, psi: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """ψ (B×L) → {layer name: (scale B×C, shift B×C)}."""
        return {
            e.name: (
                psi[:, e.offset : e.offset + e.channels],
                psi[:, e.offset + e.channels : e.offset + 2 * e.channels],
            )
            for e in self.entries
        }


def layout_for(cfg: GeneratorConfig) -> AdaINLayout:
    """Every AdaIN layer of the generator in forward order: residual blocks, then up blocks."""
    widths: list[tuple[str, int]] = []
    bottleneck = cfg.down_channels[-1]
    for i in range(cfg.res_blocks):
        widths += [(f"res{i}.norm1", bottleneck), (f"res{i}.norm2", bottleneck)]
    in_ch = bottleneck
    for i, out_ch in enumerate(cfg.up_channels):
        widths += [(f"up{i}.norm1", in_ch), (f"up{i}.norm2", out_ch)]
        in_ch = out_ch
    widths.append(("head.norm", in_ch))
    entries, offset = [], 0
    for name, channels in widths:
        entries.append(AdaINEntry(name, channels, offset))
        offset += 2 * channels
    return AdaINLayout(tuple(entries))
