"""Model configuration: frozen dataclasses per network and the presets, in one place.

Presets:
- `paper`: the paper's layout, widths 64 → 512, 256×256, self-attention at 32×32 (down) and 64×64 (up).
- `lite`: 256×256 output with a generator small enough to run live on a 2-core CPU (see
  docs/ARCHITECTURE.md for where it departs from the paper: narrower widths, up-attention at 32×32 and a
  pixel-shuffle head instead of full-resolution convolutions).
- `tiny`: 64×64, a few thousand parameters per block; for tests, trains in seconds.
- `warp`: portrait-faithful (issue 9): the avatar's own crop is moved every frame by a thin-plate spline
  from the portrait's landmarks to the driven ones, and a lite-sized AdaIN(ψ) generator that sees the
  landmark image and the warped crop paints RGB plus a soft mask; output = mask·warped + (1 − mask)·painted.
  Identity comes from the pixels, the network adds what a warp cannot (mouth inside, eyelids, disocclusions).
  No self-attention: the warped crop already carries the face's global layout.
- `warp-tiny`: the same at 64×64 for tests.
The paper's presets keep `warp` = None and stay the pure G(y, ψ).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from liveavatar.errors import CheckpointError

EMBEDDING_DIM = 512  # ê ∈ R^512 in the paper


@dataclass(frozen=True)
class GeneratorConfig:
    """G(y, ψ): residual down blocks (instance norm) → AdaIN residual blocks → AdaIN up blocks."""

    down_channels: tuple[int, ...]  # output width of each down block; each halves the resolution
    res_blocks: int  # AdaIN residual blocks at the bottleneck (width down_channels[-1])
    up_channels: tuple[int, ...]  # output width of each up block; each doubles the resolution
    attn_down_size: int  # self-attention after the down block that reaches this resolution (0: none)
    attn_up_size: int  # self-attention after the up block that reaches this resolution (0: none)
    pixel_shuffle_head: bool  # True: last up block stops at half size and a conv + PixelShuffle(2) finishes


@dataclass(frozen=True)
class EmbedderConfig:
    """E(x, y) → ê: residual down blocks on the 6-channel (frame, landmark image) pair, sum pooling."""

    channels: tuple[int, ...]
    attn_size: int


@dataclass(frozen=True)
class DiscriminatorConfig:
    """D(x, y, i) = V(x, y)ᵀ(W_i + w0) + b; V mirrors the embedder plus one residual block."""

    channels: tuple[int, ...]
    attn_size: int


@dataclass(frozen=True)
class WarpConfig:
    """The thin-plate-spline warp of the `warp` presets (liveavatar/models/warp.py)."""

    anchors: int = 3  # fixed points per side of the crop's border, keeping the background still
    # side of the grid the backward map is solved on, then upsampled: 32 (8 px cells at 256) took 0.08× G's
    # time per frame, 64 took 0.45× (docs/ARCHITECTURE.md); the spline is smooth enough for 8 px cells
    coarse: int = 32
    newton_steps: int = 3
    regularization: float = 1e-3  # λ on the spline's kernel: closed-mouth inner lips coincide, λ keeps L invertible


@dataclass(frozen=True)
class ModelConfig:
    preset: str
    image_size: int
    generator: GeneratorConfig
    embedder: EmbedderConfig
    discriminator: DiscriminatorConfig
    embedding_dim: int = EMBEDDING_DIM
    warp: WarpConfig | None = None  # set: G sees (landmark image, warped crop) and outputs RGB + mask

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.warp is None:
            del data["warp"]  # the paper's presets keep the config JSON they always had (checkpoint headers)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        try:
            return cls(
                preset=str(data["preset"]),
                image_size=int(data["image_size"]),
                generator=_tuples(GeneratorConfig, data["generator"]),
                embedder=_tuples(EmbedderConfig, data["embedder"]),
                discriminator=_tuples(DiscriminatorConfig, data["discriminator"]),
                embedding_dim=int(data.get("embedding_dim", EMBEDDING_DIM)),
                warp=_tuples(WarpConfig, data["warp"]) if data.get("warp") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"model config is incomplete or malformed ({exc!r})") from exc


def _tuples(kind: type, data: dict[str, Any]) -> Any:
    """Builds a config dataclass from JSON, turning lists back into tuples so configs compare equal."""
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)} for {kind.__name__}")
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


PRESETS: dict[str, ModelConfig] = {
    "paper": ModelConfig(
        preset="paper",
        image_size=256,
        generator=GeneratorConfig(
            down_channels=(64, 128, 256, 512),
            res_blocks=5,
            up_channels=(256, 128, 64, 32),
            attn_down_size=32,
            attn_up_size=64,
            pixel_shuffle_head=False,
        ),
        embedder=EmbedderConfig(channels=(64, 128, 256, 512, 512, 512), attn_size=32),
        discriminator=DiscriminatorConfig(channels=(64, 128, 256, 512, 512, 512), attn_size=32),
    ),
    "lite": ModelConfig(
        preset="lite",
        image_size=256,
        generator=GeneratorConfig(
            down_channels=(16, 32, 64, 128),
            res_blocks=3,
            up_channels=(64, 32, 16),
            attn_down_size=32,
            attn_up_size=32,
            pixel_shuffle_head=True,
        ),
        embedder=EmbedderConfig(channels=(32, 64, 128, 256, 256), attn_size=32),
        discriminator=DiscriminatorConfig(channels=(32, 64, 128, 256, 256), attn_size=32),
    ),
    "tiny": ModelConfig(
        preset="tiny",
        image_size=64,
        generator=GeneratorConfig(
            down_channels=(8, 16, 32),
            res_blocks=1,
            up_channels=(16, 8, 8),
            attn_down_size=16,
            attn_up_size=16,
            pixel_shuffle_head=False,
        ),
        embedder=EmbedderConfig(channels=(8, 16, 32, 64), attn_size=16),
        discriminator=DiscriminatorConfig(channels=(8, 16, 32, 64), attn_size=16),
        embedding_dim=EMBEDDING_DIM,
    ),
}
PRESETS["warp"] = dataclasses.replace(
    PRESETS["lite"],
    preset="warp",
    generator=GeneratorConfig(
        down_channels=(16, 32, 64, 128),
        res_blocks=2,
        up_channels=(64, 32, 16),
        attn_down_size=0,
        attn_up_size=0,
        pixel_shuffle_head=True,
    ),
    warp=WarpConfig(),
)
PRESETS["warp-tiny"] = dataclasses.replace(
    PRESETS["tiny"],
    preset="warp-tiny",
    generator=dataclasses.replace(PRESETS["tiny"].generator, attn_down_size=0, attn_up_size=0),
    warp=WarpConfig(),
)


def preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
