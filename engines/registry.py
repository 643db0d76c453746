"""Engine registry: build an engine by name, or `auto` with fallback that says why each faster one was skipped.

One table, ENGINES: an entry per engine (name, why it cannot run here, how to create it), in `auto`'s order:
TensorRT → ONNX Runtime CUDA → PyTorch CUDA → ONNX Runtime CPU → PyTorch CPU. `create_engine` (auto),
`engine_availability` (doctor, the app's engine menu) and the bench all iterate it: adding an engine is one
entry here.
The reasons (`EngineChoice.skipped`, one line each, "<engine>: <why>") are what `liveavatar doctor` and
the app show. ONNX graphs of the bundled model ship with the package; any other checkpoint's come from the
user's cache (exported on first use, see engines.cache). PyTorch is optional (the `train` extra): without it
the torch engines are listed as unavailable with the install command, and nothing here imports it.
Checkpoints of the `warp` presets run their whole frame graph (engines.warp_graph, fp32) on TensorRT and ONNX
Runtime (CPU and CUDA), from the same shipped or cached graph, and on PyTorch (render_frame, the reference).
TensorRT's warp path is written to its API and its ops are checked against the ONNX parser's documented
support (tests/test_tensorrt_ops.py), but it has not run on a real TensorRT: no machine here has one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from liveavatar.engines.base import EngineUnavailable, GeneratorEngine
from liveavatar.environment.optional import TORCH_EXTRA_HINT
from liveavatar.errors import LiveAvatarError

if TYPE_CHECKING:
    from liveavatar.config import ModelConfig
    from liveavatar.models.checkpoint import Checkpoint

NO_TORCH = f"PyTorch is not installed ({TORCH_EXTRA_HINT})"


@dataclass
class EngineChoice:
    engine: GeneratorEngine
    skipped: list[str] = field(default_factory=list)  # "tensorrt: not installed (pip install ...)", ...


def gpu_precision(config: ModelConfig) -> str:
    """The graph the GPU engines run: G in fp16, a warp preset's frame graph in fp32 (its only export)."""
    return "fp16" if config.warp is None else "fp32"


def _tensorrt(checkpoint, state, say) -> GeneratorEngine:
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.tensorrt_engine import TensorRTEngine, import_tensorrt

    import_tensorrt()  # fail fast with the install hint before exporting anything
    precision = gpu_precision(checkpoint.config)
    return TensorRTEngine(cached_generator_onnx(checkpoint, state, precision, say), precision, say=say)


def _onnxruntime_cuda(checkpoint, state, say) -> GeneratorEngine:
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.ort_engine import OrtEngine

    _can_run(_onnxruntime_cuda_missing)
    precision = gpu_precision(checkpoint.config)
    return OrtEngine(cached_generator_onnx(checkpoint, state, precision, say), device="cuda")


def _can_run(why_not: Callable[[], str | None]) -> None:
    """Raises EngineUnavailable with the table's reason, so creating and listing say the same."""
    reason = why_not()
    if reason:
        raise EngineUnavailable(reason)


def _require_torch():
    try:
        import torch
    except ImportError as exc:
        raise EngineUnavailable(NO_TORCH) from exc
    return torch


def _torch_cuda(checkpoint, state, say) -> GeneratorEngine:
    _can_run(_torch_cuda_missing)
    from liveavatar.engines.cache import generator_for
    from liveavatar.engines.torch_engine import CUDA_DEFAULT, TorchEngine

    if checkpoint.config.warp is not None:
        return _torch_warp(checkpoint, state, "cuda")
    return TorchEngine(generator_for(checkpoint, state), "cuda", CUDA_DEFAULT)


def _torch_warp(checkpoint, state, device: str) -> GeneratorEngine:
    """A warp checkpoint's frame in PyTorch eager fp32 (the reference), with a fine-tuned avatar's G if any."""
    from liveavatar.engines.cache import generator_for
    from liveavatar.engines.torch_engine import TorchWarpEngine

    generator = generator_for(checkpoint, state) if state is not None else None
    return TorchWarpEngine(checkpoint.model, device, generator)


def _onnxruntime(checkpoint, state, say) -> GeneratorEngine:
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.ort_engine import OrtEngine

    _require_onnxruntime()
    return OrtEngine(cached_generator_onnx(checkpoint, state, "fp32", say), device="cpu")


def _torch(checkpoint, state, say) -> GeneratorEngine:
    _require_torch()
    from liveavatar.engines.cache import generator_for
    from liveavatar.engines.torch_engine import TorchEngine

    if checkpoint.config.warp is not None:
        return _torch_warp(checkpoint, state, "cpu")
    return TorchEngine(generator_for(checkpoint, state), "cpu")


def _require_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable(NO_ONNXRUNTIME) from exc


NO_ONNXRUNTIME = "onnxruntime is not installed (pip install onnxruntime)"


def _tensorrt_missing() -> str | None:
    from liveavatar.engines.tensorrt_engine import import_tensorrt

    try:
        import_tensorrt()
    except EngineUnavailable as exc:
        return str(exc)
    return None


def _onnxruntime_missing() -> str | None:
    try:
        _require_onnxruntime()
    except EngineUnavailable as exc:
        return str(exc)
    return None


def _onnxruntime_cuda_missing() -> str | None:
    missing = _onnxruntime_missing()
    if missing:
        return missing
    from liveavatar.engines.ort_engine import cuda_provider_available

    return None if cuda_provider_available() else "no CUDA provider (pip install onnxruntime-gpu)"


def _torch_missing() -> str | None:
    try:
        _require_torch()
    except EngineUnavailable as exc:
        return str(exc)
    return None


def _torch_cuda_missing() -> str | None:
    missing = _torch_missing()
    if missing:
        return missing
    import torch

    return None if torch.cuda.is_available() else "this PyTorch build sees no CUDA GPU"


@dataclass(frozen=True)
class EngineEntry:
    """One engine. why_not(): None when it can run here, else why not (cheap: builds nothing);
    create(checkpoint, generator_state, say): the engine, or EngineUnavailable / LiveAvatarError;
    fits(config): None when it can run this model, else why not (create says the same)."""

    name: str
    why_not: Callable[[], str | None]
    create: Callable[[Checkpoint, dict[str, Any] | None, Callable[[str], None] | None], GeneratorEngine]
    fits: Callable[[ModelConfig], str | None] = lambda config: None


ENGINES: tuple[EngineEntry, ...] = (
    EngineEntry("tensorrt", _tensorrt_missing, _tensorrt),
    EngineEntry("onnxruntime-cuda", _onnxruntime_cuda_missing, _onnxruntime_cuda),
    EngineEntry("torch-cuda", _torch_cuda_missing, _torch_cuda),
    EngineEntry("onnxruntime", _onnxruntime_missing, _onnxruntime),
    EngineEntry("torch", _torch_missing, _torch),
)
ENGINE_TABLE = {entry.name: entry for entry in ENGINES}
AUTO_ORDER = tuple(entry.name for entry in ENGINES)
ENGINE_CHOICES = ("auto", *AUTO_ORDER)


def create_engine(
    choice: str,
    checkpoint: Checkpoint,
    generator_state: dict[str, Any] | None = None,
    say: Callable[[str], None] | None = None,
) -> EngineChoice:
    """The engine named `choice`, or for "auto" the fastest that works here.

    generator_state: a fine-tuned avatar's generator weights (Avatar.generator_weights), else None.
    say: where first-use messages go (exporting, building a TensorRT engine); stderr by default.
    A named engine that cannot run raises EngineUnavailable; "auto" raises only when no engine can run, with
    every engine's reason.
    """
    if choice not in ENGINE_CHOICES:
        raise EngineUnavailable(f"unknown engine {choice!r}; choose one of {', '.join(ENGINE_CHOICES)}")
    if choice != "auto":
        try:
            return EngineChoice(ENGINE_TABLE[choice].create(checkpoint, generator_state, say))
        except EngineUnavailable as exc:
            raise EngineUnavailable(_reason(choice, exc)) from exc
    skipped: list[str] = []
    problem: LiveAvatarError | None = None  # the last failure that is not just "this runtime is missing"
    for entry in ENGINES:
        try:
            return EngineChoice(entry.create(checkpoint, generator_state, say), skipped)
        except LiveAvatarError as exc:
            skipped.append(_reason(entry.name, exc))
            if not isinstance(exc, EngineUnavailable):
                problem = exc
    if problem is not None:  # e.g. an avatar's weights that fit no engine: that is what to fix
        raise problem
    raise EngineUnavailable("no engine can run here: " + "; ".join(skipped))


def _reason(name: str, exc: Exception) -> str:
    message = str(exc)
    return message if message.startswith(f"{name}:") or message.startswith(f"{name}-") else f"{name}: {message}"


def engine_availability(config: ModelConfig | None = None) -> list[tuple[str, str | None]]:
    """(engine, None if it can run here else "<engine>: why not") for each engine, without building anything.

    config: the model to run (default: the bundled model's, read from its header, when the build has one):
    an engine whose `fits` refuses that model is listed with why (every engine runs every preset today)."""
    if config is None:
        config = _bundled_config()
    rows: list[tuple[str, str | None]] = []
    for entry in ENGINES:
        why_not = (entry.fits(config) if config is not None else None) or entry.why_not()
        rows.append((entry.name, None if why_not is None else _reason(entry.name, Exception(why_not))))
    return rows


def _bundled_config() -> ModelConfig | None:
    """The bundled checkpoint's model config from its header (no weights read, no PyTorch), or None."""
    from liveavatar.models.checkpoint import bundled_checkpoint, checked_metadata, read_metadata

    try:
        path = bundled_checkpoint()
        return None if path is None else checked_metadata(path, read_metadata(path))[0]
    except LiveAvatarError:
        return None
