"""Engine registry: build an engine by name, or `auto` with fallback that says why each faster one was skipped.

Order for `auto`: TensorRT → ONNX Runtime CUDA → PyTorch CUDA → ONNX Runtime CPU → PyTorch CPU.
The reasons (`EngineChoice.skipped`, one line each, "<engine>: <why>") are what `liveavatar doctor` and
the app show. ONNX graphs of the bundled model ship with the package; any other checkpoint's come from the
user's cache (exported on first use, see engines.cache). PyTorch is optional (the `train` extra): without it
the torch engines are listed as unavailable with the install command, and nothing here imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from liveavatar.engines.base import EngineUnavailable, GeneratorEngine
from liveavatar.errors import LiveAvatarError
from liveavatar.optional import TORCH_EXTRA_HINT

if TYPE_CHECKING:
    from liveavatar.models.checkpoint import Checkpoint

NO_TORCH = f"PyTorch is not installed ({TORCH_EXTRA_HINT})"

AUTO_ORDER = ("tensorrt", "onnxruntime-cuda", "torch-cuda", "onnxruntime", "torch")
ENGINE_CHOICES = ("auto", *AUTO_ORDER)


@dataclass
class EngineChoice:
    engine: GeneratorEngine
    skipped: list[str] = field(default_factory=list)  # "tensorrt: not installed (pip install ...)", ...


def _tensorrt(checkpoint, state, say) -> GeneratorEngine:
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.tensorrt_engine import TensorRTEngine, import_tensorrt

    import_tensorrt()  # fail fast with the install hint before exporting anything
    return TensorRTEngine(cached_generator_onnx(checkpoint, state, "fp16", say), "fp16", say=say)


def _onnxruntime_cuda(checkpoint, state, say) -> GeneratorEngine:
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.ort_engine import OrtEngine, cuda_provider_available

    _require_onnxruntime()
    if not cuda_provider_available():
        raise EngineUnavailable("no CUDA provider in this onnxruntime (pip install onnxruntime-gpu)")
    return OrtEngine(cached_generator_onnx(checkpoint, state, "fp16", say), device="cuda")


def _require_torch():
    try:
        import torch
    except ImportError as exc:
        raise EngineUnavailable(NO_TORCH) from exc
    return torch


def _torch_cuda(checkpoint, state, say) -> GeneratorEngine:
    torch = _require_torch()
    from liveavatar.engines.cache import generator_for
    from liveavatar.engines.torch_engine import CUDA_DEFAULT, TorchEngine

    if not torch.cuda.is_available():
        raise EngineUnavailable("this PyTorch build sees no CUDA GPU")
    return TorchEngine(generator_for(checkpoint, state), "cuda", CUDA_DEFAULT)


def _onnxruntime(checkpoint, state, say) -> GeneratorEngine:
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.ort_engine import OrtEngine

    _require_onnxruntime()
    return OrtEngine(cached_generator_onnx(checkpoint, state, "fp32", say), device="cpu")


def _torch(checkpoint, state, say) -> GeneratorEngine:
    _require_torch()
    from liveavatar.engines.cache import generator_for
    from liveavatar.engines.torch_engine import TorchEngine

    return TorchEngine(generator_for(checkpoint, state), "cpu")


def _require_onnxruntime() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailable("onnxruntime is not installed (pip install onnxruntime)") from exc


_FACTORIES: dict[str, Callable] = {
    "tensorrt": _tensorrt,
    "onnxruntime-cuda": _onnxruntime_cuda,
    "torch-cuda": _torch_cuda,
    "onnxruntime": _onnxruntime,
    "torch": _torch,
}


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
            return EngineChoice(_FACTORIES[choice](checkpoint, generator_state, say))
        except EngineUnavailable as exc:
            raise EngineUnavailable(_reason(choice, exc)) from exc
    skipped: list[str] = []
    problem: LiveAvatarError | None = None  # the last failure that is not just "this runtime is missing"
    for name in AUTO_ORDER:
        try:
            return EngineChoice(_FACTORIES[name](checkpoint, generator_state, say), skipped)
        except LiveAvatarError as exc:
            skipped.append(_reason(name, exc))
            if not isinstance(exc, EngineUnavailable):
                problem = exc
    if problem is not None:  # e.g. an avatar's weights that fit no engine: that is what to fix
        raise problem
    raise EngineUnavailable("no engine can run here: " + "; ".join(skipped))


def _reason(name: str, exc: Exception) -> str:
    message = str(exc)
    return message if message.startswith(f"{name}:") or message.startswith(f"{name}-") else f"{name}: {message}"


def engine_availability() -> list[tuple[str, str | None]]:
    """(engine, None if it can run here else why not) for each engine, without building anything."""
    rows: list[tuple[str, str | None]] = []
    try:
        from liveavatar.engines.tensorrt_engine import import_tensorrt

        import_tensorrt()
        rows.append(("tensorrt", None))
    except EngineUnavailable as exc:
        rows.append(("tensorrt", _reason("tensorrt", exc)))
    try:
        _require_onnxruntime()
        from liveavatar.engines.ort_engine import cuda_provider_available

        has_ort = True
        cuda_ort = cuda_provider_available()
    except EngineUnavailable:
        has_ort = cuda_ort = False
    no_ort = "onnxruntime is not installed (pip install onnxruntime)"
    rows.append(
        (
            "onnxruntime-cuda",
            None
            if cuda_ort
            else f"onnxruntime-cuda: {no_ort if not has_ort else 'no CUDA provider (pip install onnxruntime-gpu)'}",
        )
    )
    try:
        torch = _require_torch()
    except EngineUnavailable as exc:
        rows.append(("torch-cuda", f"torch-cuda: {exc}"))
        rows.append(("onnxruntime", None if has_ort else f"onnxruntime: {no_ort}"))
        rows.append(("torch", f"torch: {exc}"))
        return rows
    rows.append(
        ("torch-cuda", None if torch.cuda.is_available() else "torch-cuda: this PyTorch build sees no CUDA GPU")
    )
    rows.append(("onnxruntime", None if has_ort else f"onnxruntime: {no_ort}"))
    rows.append(("torch", None))
    return rows
