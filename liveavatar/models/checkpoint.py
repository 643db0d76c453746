"""The checkpoint format: one safetensors file that describes itself.

Tensors: every weight of E, P, G (and D when present) with spectral norm folded, under the prefixes
`embedder.`, `projection.`, `generator.`, `discriminator.`. Header metadata (str → str):
  format = "liveavatar-checkpoint", format_version, config (ModelConfig JSON), adain_layout_version,
  num_videos, training (JSON summary of the run that produced it: steps, losses used, data, wall time).
Loading checks the format and its version before anything else and names both sides on a mismatch;
`migrate` is where a future version 2 would upgrade version-1 files.

`open_checkpoint` reads only the header and the file's hash (no PyTorch): what the runtime needs, since
avatars and frames come from ONNX graphs. Its `Checkpoint.model` is built on first use, which needs torch
(the `train` extra) and says so in one line when it is missing. `load_checkpoint` builds the model at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError

from liveavatar.config import MAX_PARAMETERS, ModelConfig
from liveavatar.errors import CheckpointError
from liveavatar.files.checks import require_file
from liveavatar.files.jsonlimits import parse_json
from liveavatar.models.adain_layout import LAYOUT_VERSION

if TYPE_CHECKING:
    import torch

    from liveavatar.models.talking_head import TalkingHead

FORMAT = "liveavatar-checkpoint"
FORMAT_VERSION = 1
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "assets"
DISCRIMINATOR_SUFFIX = "_discriminator"  # NAME_discriminator.safetensors: D, split off for fine-tuning only


@dataclass
class Checkpoint:
    """A checkpoint's config and identity; the PyTorch model comes from `loader` on first use of `model`."""

    config: ModelConfig
    _model: TalkingHead | None = field(default=None, repr=False)
    training: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    path: Path | None = None
    loader: Callable[[], TalkingHead] | None = field(default=None, repr=False, compare=False)
    # The app's worker threads may ask for the model at once (an avatar build and an engine export).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def model(self) -> TalkingHead:
        with self._lock:
            if self._model is None:
                if self.loader is None:
                    raise CheckpointError(f"checkpoint {self.path} was opened without a way to load its weights")
                self._model = self.loader()
            return self._model

    @property
    def model_loaded(self) -> bool:
        return self._model is not None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(path: str | Path, model: TalkingHead, training: dict[str, Any] | None = None) -> str:
    """Writes the model (spectral norm folded; `model` itself is untouched) atomically; returns sha256."""
    import torch
    from safetensors.torch import save_file

    from liveavatar.models.blocks import folded_state_dict

    path = Path(path)
    tensors = {k: v.to("cpu", torch.float32).contiguous() for k, v in folded_state_dict(model).items()}
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": model.config.to_json(),
        "adain_layout_version": str(LAYOUT_VERSION),
        "num_videos": str(model.num_videos),
        "training": json.dumps(training or {}, sort_keys=True),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(path)  # never leave a half-written checkpoint under the real name
    except (OSError, SafetensorError) as exc:  # disk full or read-only: one line, the previous file untouched
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: the checkpoint could not be written ({exc}); free some space") from None
    return file_sha256(path)


def read_metadata(path: str | Path) -> dict[str, str]:
    path = require_file(Path(path), "checkpoint", "pass a checkpoint .safetensors file", CheckpointError)
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="np") as f:  # the header only: no tensor is read
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a LiveAvatar checkpoint (format {meta.get('format')!r}, expected {FORMAT!r})"
        )
    return migrate(path, meta)


def migrate(path: Path, meta: dict[str, str]) -> dict[str, str]:
    """Upgrades older metadata to the current version; refuses versions this code does not know."""
    version = meta.get("format_version", "?")
    if version != str(FORMAT_VERSION):
        raise CheckpointError(
            f"checkpoint {path} has format version {version}; this LiveAvatar reads version {FORMAT_VERSION}"
            " (re-export it with a matching LiveAvatar, or upgrade LiveAvatar)"
        )
    if meta.get("adain_layout_version") != str(LAYOUT_VERSION):
        raise CheckpointError(
            f"checkpoint {path} uses AdaIN layout version {meta.get('adain_layout_version')}; "
            f"this LiveAvatar uses version {LAYOUT_VERSION}"
        )
    return meta


def load_checkpoint(
    path: str | Path,
    expected: ModelConfig | None = None,
    spectral: bool = False,
    discriminator: bool = True,
    device: str | torch.device = "cpu",
) -> Checkpoint:
    """Loads a checkpoint with its PyTorch model. `spectral=True` rebuilds spectral-norm parametrisations
    (for fine-tuning). Needs torch; the runtime uses `open_checkpoint`."""
    from liveavatar.environment.optional import import_torch

    import_torch(f"loading the PyTorch model of checkpoint {Path(path).name}")
    from safetensors.torch import load_file

    from liveavatar.models.talking_head import TalkingHead

    path = Path(path)
    config, num_videos, training = _header(path, expected)
    try:
        tensors = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"checkpoint {path} is corrupt ({exc})") from exc
    has_d = any(k.startswith("discriminator.") for k in tensors)
    model = TalkingHead(
        config,
        num_videos=num_videos,
        spectral=spectral,
        discriminator=discriminator and has_d,
    )
    if not discriminator:
        tensors = {k: v for k, v in tensors.items() if not k.startswith("discriminator.")}
    load_folded_state(model, tensors, str(path))
    model.to(device).eval()
    return Checkpoint(config, model, training, file_sha256(path), path)


MAX_VIDEOS = 10_000_000  # rows of the discriminator's W; VoxCeleb2, the paper's data, has ~150k videos


def checked_metadata(path: Path, meta: dict[str, str]) -> tuple[ModelConfig, int, dict[str, Any]]:
    """The config, video count and training summary of a checkpoint's metadata, each parsed within limits
    and range-checked before any layer is allocated; CheckpointError naming the file and the field."""

    def field(name: str, default: str | None = None) -> str:
        value = meta.get(name, default)
        if value is None:
            raise CheckpointError(f"checkpoint {path} has no {name!r} in its metadata (damaged or not a checkpoint)")
        return value

    config_data = parse_json(field("config"), f"checkpoint {path}: metadata 'config'", CheckpointError)
    try:
        config = ModelConfig.from_dict(config_data)
    except CheckpointError as exc:
        raise CheckpointError(f"checkpoint {path}: {exc}") from None
    text = field("num_videos", "1").strip()
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= MAX_VIDEOS:  # 0: saved without a discriminator
        raise CheckpointError(
            f"checkpoint {path}: metadata 'num_videos' must be a whole number in [0, {MAX_VIDEOS}], "
            f"got {text[:40]!r} (damaged file)"
        )
    if config.estimated_parameters(int(text)) > MAX_PARAMETERS:
        raise CheckpointError(
            f"checkpoint {path}: metadata 'num_videos' {text} would make the discriminator alone larger than "
            f"{MAX_PARAMETERS / 1e9:.1f} G parameters (damaged file)"
        )
    training = parse_json(field("training", "{}"), f"checkpoint {path}: metadata 'training'", CheckpointError)
    if not isinstance(training, dict):
        raise CheckpointError(
            f"checkpoint {path}: metadata 'training' must be a JSON object, not {type(training).__name__}"
        )
    return config, int(text), training


def open_checkpoint(path: str | Path, expected: ModelConfig | None = None) -> Checkpoint:
    """The checkpoint's config, hash and training summary without PyTorch; `.model` loads it when first used
    (G, E and P only, on the CPU), which needs torch and says so when it is missing."""
    path = Path(path)
    config, _, training = _header(path, expected)
    return Checkpoint(
        config,
        None,
        training,
        file_sha256(path),
        path,
        loader=lambda: load_checkpoint(path, expected, discriminator=False).model,
    )


def _header(path: Path, expected: ModelConfig | None) -> tuple[ModelConfig, int, dict[str, Any]]:
    """The checked metadata (config, video count, training summary), refused if the config is not `expected`."""
    config, num_videos, training = checked_metadata(path, read_metadata(path))
    if expected is not None and config != expected:
        raise CheckpointError(
            f"checkpoint {path} holds preset {config.preset!r} with a different model config than expected "
            f"(expected preset {expected.preset!r}); checkpoint: {config.to_json()}; expected: {expected.to_json()}"
        )
    return config, num_videos, training


def load_folded_state(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Loads folded weights into `model`, which may carry spectral-norm parametrisations.

    For a parametrised layer the folded W becomes the unnormalised original (its σ is ≈ 1 already) and
    the power iteration is run to convergence so σ is estimated from the real weight, not random u, v.
    """
    import torch
    from torch.nn.utils import parametrize

    remapped = {}
    parametrized = {}
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrized[f"{name}.weight"] = module
    for key, value in tensors.items():
        if key in parametrized:
            remapped[key.rsplit(".", 1)[0] + ".parametrizations.weight.original"] = value
        else:
            remapped[key] = value
    own = model.state_dict()
    # u and v buffers of the parametrisations are not stored in the folded file.
    expected_keys = {k for k in own if not k.endswith("._u") and not k.endswith("._v")}
    missing = sorted(expected_keys - set(remapped))
    unexpected = sorted(set(remapped) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {source} does not match its own config: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    bad_shapes = [k for k, v in remapped.items() if own[k].shape != v.shape]
    if bad_shapes:
        raise CheckpointError(f"checkpoint {source} has tensors of the wrong shape: {bad_shapes[:5]}")
    model.load_state_dict(remapped, strict=False)
    with torch.no_grad():
        for module in parametrized.values():
            sn = module.parametrizations.weight[0]
            weight_mat = sn._reshape_weight_to_matrix(module.parametrizations.weight.original)
            sn._power_method(weight_mat, 30)


def bundled_checkpoint() -> Path | None:
    """The model shipped in the package, if this build has one: the one NAME.safetensors in the assets
    (besides its NAME_discriminator.safetensors). tools/export_bundled_graphs.py --checkpoint swaps it; two
    models there is a broken build, said in one line."""
    found = sorted(
        p for p in BUNDLED_DIR.glob("*.safetensors") if p.is_file() and not p.stem.endswith(DISCRIMINATOR_SUFFIX)
    )
    if len(found) > 1:
        raise CheckpointError(
            f"this build ships {len(found)} models ({', '.join(p.name for p in found)}) in {BUNDLED_DIR}; keep one "
            "(python tools/export_bundled_graphs.py --checkpoint CKPT swaps the bundled model)"
        )
    return found[0] if found else None


def resolve_checkpoint(path: str | Path | None) -> Path:
    """The checkpoint a command should use: the user's, else the bundled one, else a clear error."""
    if path is not None:
        return Path(path)
    bundled = bundled_checkpoint()
    if bundled is None:
        raise CheckpointError(
            "no trained checkpoint is available: this build ships no bundled model. Train one with "
            "`liveavatar train` (see README, 'From videos to an avatar') and pass it with --checkpoint"
        )
    return bundled
