"""Generator engines: one protocol, interchangeable runtimes, one registry with fallback.

Installed as `liveavatar.engines` (see pyproject's package-dir). Runtimes (onnxruntime, tensorrt) are
imported only when their engine is created, so importing this package costs nothing.
"""

from liveavatar.engines.base import EngineUnavailable, GeneratorEngine

__all__ = ["EngineUnavailable", "GeneratorEngine"]
