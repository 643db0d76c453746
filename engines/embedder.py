"""The embedder E + projection P behind one small interface: portrait crops → ψ, once per avatar.

    embedder = create_embedder(checkpoint)
    psi = embedder.psi(crops, landmark_images)   # K×S×S×3 uint8 RGB each → 1×L float32 (ψ = P·mean_k ê_k)
    embedder.close()

The bundled model's E + P run from the ONNX graph shipped with the package (engines.bundled), on ONNX
Runtime's CPU provider: building an avatar needs no PyTorch. Any other checkpoint runs E + P in PyTorch,
which needs the `train` extra and says so when it is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from liveavatar.engines.base import EngineError

if TYPE_CHECKING:
    from liveavatar.avatar import Avatar, Progress
    from liveavatar.models.checkpoint import Checkpoint


class OrtEmbedder:
    """E + P from an exported embedder graph (engines.graph_writer.export_embedder) on the CPU."""

    name = "onnxruntime-cpu"

    def __init__(self, onnx_path: str | Path, checkpoint_sha256: str | None = None):
        import onnxruntime as ort

        from liveavatar.engines.graph_info import read_graph_info
        from liveavatar.engines.ort_engine import session_options

        self.info = read_graph_info(onnx_path, "embedder")
        if checkpoint_sha256 and self.info.checkpoint_sha256 != checkpoint_sha256:
            raise EngineError(
                f"{onnx_path} is the embedder of checkpoint {self.info.checkpoint_sha256[:12]}…, "
                f"not of {checkpoint_sha256[:12]}…"
            )
        try:
            self.session = ort.InferenceSession(str(onnx_path), session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types for unusable graphs
            raise EngineError(f"ONNX Runtime cannot load {onnx_path}: {str(exc).strip()[:200]}") from exc

    def psi(self, crops: np.ndarray, landmark_images: np.ndarray) -> np.ndarray:
        feeds = {"portraits": np.ascontiguousarray(crops), "landmarks": np.ascontiguousarray(landmark_images)}
        return self.session.run(["psi"], feeds)[0].astype(np.float32)  # 1×L

    def close(self) -> None:
        self.session = None


class TorchEmbedder:
    """E + P of a checkpoint's PyTorch model (on the model's device)."""

    name = "torch"

    def __init__(self, model):
        import torch

        from liveavatar.engines.graphs import EmbedderIO

        self._torch = torch
        self.module: EmbedderIO | None = EmbedderIO(model).eval()
        self.device = next(model.parameters()).device

    def psi(self, crops: np.ndarray, landmark_images: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device)
            marks = torch.from_numpy(np.ascontiguousarray(landmark_images)).to(self.device)
            module = self.module
            assert module is not None, "psi() after close()"
            return module(images, marks).float().cpu().numpy()  # 1×L

    def close(self) -> None:
        self.module = None


def create_embedder(checkpoint):
    """The shipped ONNX embedder for the bundled model when ONNX Runtime is here, else PyTorch's E + P."""
    from liveavatar.engines.bundled import bundled_graph

    shipped = bundled_graph(checkpoint.sha256, "embedder")
    if shipped is not None:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            pass  # PyTorch below, or its one-line install message
        else:
            return OrtEmbedder(shipped, checkpoint.sha256)
    from liveavatar.environment.optional import import_torch

    if shipped is None:
        import_torch(
            f"building an avatar with {checkpoint.path or 'this checkpoint'} (only the bundled model's "
            "embedder ships as ONNX)"
        )
    else:
        import_torch("building an avatar without onnxruntime (pip install onnxruntime)")
    return TorchEmbedder(checkpoint.model)


def build_avatar(
    portraits: Sequence[str | Path], checkpoint: Checkpoint, name: str | None = None, progress: Progress | None = None
) -> Avatar:
    """liveavatar.avatar.build_avatar with the checkpoint's own embedder (create_embedder), made after the
    faces are found and closed when done: what every caller above the core uses to build an avatar (the
    core is handed its embedder; it never reaches the engines layer)."""
    from liveavatar.avatar import build_avatar as build

    return build(portraits, checkpoint, name, progress, make_embedder=create_embedder)
