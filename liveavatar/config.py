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
from typing import Any, cast

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
    # side G paints at (0: the image size). The warped texture carries the detail at full size; G's RGB and
    # mask are upsampled onto it, so painting at half size costs a quarter of G's time for a soft mouth.
    paint_size: int = 0
    # True: G also sees where the driven mouth is open (the inner lips' polygon, 68-point marks 60–67) and
    # the warped pixels there are never used: a warp can only stretch lips over a cavity it never saw.
    mouth_inside: bool = False


@dataclass(frozen=True)
class ModelConfig:
    preset: str
    image_size: int
    generator: GeneratorConfig
    embedder: EmbedderConfig
    discriminator: DiscriminatorConfig
    embedding_dim: int = EMBEDDING_DIM
    warp: WarpConfig | None = None  # set: G sees (landmark image, warped crop) and outputs RGB + mask

    @property
    def generator_size(self) -> int:
        """The side G works at: the image size, or a warp preset's paint size."""
        return self.warp.paint_size if self.warp is not None and self.warp.paint_size else self.image_size

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.warp is None:
            del data["warp"]  # the paper's presets keep the config JSON they always had (checkpoint headers)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Builds and range-checks a config read from a file; CheckpointError (nothing allocated) when a
        field is missing, of the wrong type, out of range, or the networks would not fit in memory."""
        if not isinstance(data, dict):
            raise CheckpointError(f"model config must be a JSON object, not {type(data).__name__}")
        try:
            config = cls(
                preset=_field(data, "preset", str),
                image_size=_field(data, "image_size", int),
                generator=_tuples(GeneratorConfig, data["generator"]),
                embedder=_tuples(EmbedderConfig, data["embedder"]),
                discriminator=_tuples(DiscriminatorConfig, data["discriminator"]),
                embedding_dim=_field(data, "embedding_dim", int, EMBEDDING_DIM),
                warp=_tuples(WarpConfig, data["warp"]) if data.get("warp") else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"model config is incomplete or malformed ({exc})") from None
        config.check()
        return config

    def check(self) -> None:
        """Range checks that keep a crafted or damaged config from allocating layers: CheckpointError."""
        problems = []
        size = self.image_size
        if not (MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE and size & (size - 1) == 0):
            problems.append(f"image_size {size} is not a power of two in [{MIN_IMAGE_SIZE}, {MAX_IMAGE_SIZE}]")
        if not 1 <= self.embedding_dim <= MAX_WIDTH:
            problems.append(f"embedding_dim {self.embedding_dim} is not in [1, {MAX_WIDTH}]")
        g = self.generator
        named = {
            "generator.down_channels": g.down_channels,
            "generator.up_channels": g.up_channels,
            "embedder.channels": self.embedder.channels,
            "discriminator.channels": self.discriminator.channels,
        }
        for name, widths in named.items():
            if not 1 <= len(widths) <= MAX_BLOCKS or not all(
                isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= MAX_WIDTH for w in widths
            ):
                problems.append(f"{name} must be 1 to {MAX_BLOCKS} widths in [1, {MAX_WIDTH}], got {list(widths)}")
        for name, value in (("generator.res_blocks", g.res_blocks),):
            if not (isinstance(value, int) and 0 <= value <= MAX_BLOCKS):
                problems.append(f"{name} {value!r} is not in [0, {MAX_BLOCKS}]")
        w = self.warp
        if w is not None and not (
            isinstance(w.anchors, int) and 0 <= w.anchors <= 64
            and isinstance(w.coarse, int) and 2 <= w.coarse <= MAX_IMAGE_SIZE
            and isinstance(w.newton_steps, int) and 0 <= w.newton_steps <= 16
            and isinstance(w.regularization, (int, float)) and 0 <= w.regularization <= 1e3
            and isinstance(w.paint_size, int) and (w.paint_size == 0 or MIN_IMAGE_SIZE <= w.paint_size <= size)
            and (w.paint_size == 0 or _power_of_two(size / w.paint_size))
            and isinstance(w.mouth_inside, bool)
        ):  # fmt: skip
            problems.append(
                f"warp {w} is out of range (anchors 0–64, coarse 2–{MAX_IMAGE_SIZE}, newton_steps 0–16, "
                f"paint_size 0 or the image size divided by a power of two, at least {MIN_IMAGE_SIZE})"
            )
        if not isinstance(g.pixel_shuffle_head, bool):
            problems.append(f"generator.pixel_shuffle_head must be true or false, got {g.pixel_shuffle_head!r}")
        for name, value in (
            ("generator.attn_down_size", g.attn_down_size),
            ("generator.attn_up_size", g.attn_up_size),
            ("embedder.attn_size", self.embedder.attn_size),
            ("discriminator.attn_size", self.discriminator.attn_size),
        ):
            if not (isinstance(value, int) and 0 <= value <= MAX_IMAGE_SIZE):
                problems.append(f"{name} {value!r} is not in [0, {MAX_IMAGE_SIZE}]")
        if not problems:
            g_size = self.generator_size
            reached = g_size >> len(g.down_channels) << len(g.up_channels)
            expected = g_size // 2 if g.pixel_shuffle_head else g_size
            if g_size >> len(g.down_channels) < 1 or reached != expected:
                problems.append(
                    f"the generator's {len(g.down_channels)} down and {len(g.up_channels)} up blocks do not lead back "
                    f"to {expected}×{expected} from {g_size}×{g_size}"
                )
            for name in ("embedder.channels", "discriminator.channels"):  # E and D work at G's size too
                if g_size >> (len(named[name]) + 1) < 1:
                    problems.append(f"{name} has more down blocks than a {g_size}×{g_size} image allows")
            params = self.estimated_parameters()
            if params > MAX_PARAMETERS:
                problems.append(
                    f"its networks would hold ~{params / 1e9:.1f} G parameters ({params * 4 / 1e9:.0f} GB), more "
                    f"than the {MAX_PARAMETERS / 1e9:.1f} G LiveAvatar loads"
                )
        if problems:
            raise CheckpointError("model config is out of range: " + "; ".join(problems))

    def estimated_parameters(self, num_videos: int = 1) -> int:
        """An upper estimate of the parameter count, from widths alone (no layer is built): each residual block
        holds two 3×3 convolutions and a 1×1 skip, attention ~1.25 c², AdaIN and P ~ψ × embedding_dim."""

        def chain(widths: tuple[int, ...], first: int) -> int:
            total, previous = 0, first
            for width in widths:
                total += 9 * previous * width + 9 * width * width + previous * width + 2 * width * width
                previous = width
            return total

        g = self.generator
        bottleneck = g.down_channels[-1]
        psi = 4 * (bottleneck * g.res_blocks + sum(g.up_channels)) + 2 * g.up_channels[-1]
        return (
            chain(g.down_channels, 3)
            + g.res_blocks * chain((bottleneck,), bottleneck)
            + chain(g.up_channels, bottleneck)
            + 9 * g.up_channels[-1] * 12
            + chain(self.embedder.channels, 6)
            + chain(self.discriminator.channels + self.discriminator.channels[-1:], 6)
            + psi * self.embedding_dim
            + num_videos * self.embedding_dim
        )


# Bounds of a config read from a file: far above the presets (paper: 256 px, widths ≤ 512, 6 blocks), far
# below what would exhaust memory before the weights are even compared.
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 16, 1024


def _power_of_two(ratio: float) -> bool:
    return ratio.is_integer() and int(ratio) & (int(ratio) - 1) == 0


MAX_WIDTH = 2048
MAX_BLOCKS = 12
MAX_PARAMETERS = 500_000_000  # 2 GB of float32; the paper preset holds ~0.1 G


def _field(data: dict[str, Any], name: str, kind: type, default: Any = None) -> Any:
    """data[name] if it is exactly of `kind` (JSON true is not an int here); ValueError naming it otherwise."""
    if name not in data and default is not None:
        return default
    value = data[name]
    accepted = (int, float) if kind is float else kind  # JSON writes 1e-3 as a float, 1.0 as 1.0, 0 as 0
    if not isinstance(value, accepted) or (kind is not bool and isinstance(value, bool)):
        raise ValueError(f"{name} must be {kind.__name__}, not {type(value).__name__} {str(value)[:40]!r}")
    return float(cast("int | float", value)) if kind is float else value


def _tuples(kind: type, data: dict[str, Any]) -> Any:
    """Builds a config dataclass from JSON, turning lists back into tuples so configs compare equal; each
    field must have the type its annotation names."""
    if not isinstance(data, dict):
        raise ValueError(f"{kind.__name__} must be a JSON object, not {type(data).__name__}")
    fields = {f.name: f.type for f in dataclasses.fields(kind)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown fields {sorted(unknown)[:5]} for {kind.__name__}")
    values = {}
    for name, annotation in fields.items():
        value = data[name]
        if annotation.startswith("tuple"):
            # a list from JSON, or a tuple from to_dict() in-process
            if not isinstance(value, list | tuple) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                raise ValueError(f"{kind.__name__}.{name} must be a list of integers, not {str(value)[:40]!r}")
            value = tuple(value)
        else:
            kinds: dict[str, type] = {"bool": bool, "float": float}
            values[name] = _field(data, name, kinds.get(str(annotation), int))
            continue
        values[name] = value
    return kind(**values)


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
    warp=WarpConfig(paint_size=128, mouth_inside=True),
)
PRESETS["warp-tiny"] = dataclasses.replace(
    PRESETS["tiny"],
    preset="warp-tiny",
    generator=dataclasses.replace(PRESETS["tiny"].generator, attn_down_size=0, attn_up_size=0),
    warp=WarpConfig(paint_size=32, mouth_inside=True),
)


def preset(name: str) -> ModelConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
