"""Generator engines: one protocol, interchangeable runtimes, one registry with fallback.

Installed as `liveavatar.engines` (see pyproject's package-dir). Runtimes (onnxruntime, tensorrt) are
imported only when their engine is created, so importing this package costs nothing.

    from liveavatar.engines.registry import create_engine
    choice = create_engine("auto", checkpoint)          # EngineChoice(engine, skipped reasons)
    frames = choice.engine.infer(landmark_images, psi)  # N×S×S×3 uint8 RGB in and out, ψ N×L float32
"""

from liveavatar.engines.base import EngineError, EngineInputError, EngineUnavailable, GeneratorEngine

__all__ = ["EngineError", "EngineInputError", "EngineUnavailable", "GeneratorEngine"]
