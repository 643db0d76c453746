"""The ONNX graphs of the bundled model, shipped in the package so the runtime needs no PyTorch.

liveavatar/assets/lite-onnx/ holds what tools/export_bundled_graphs.py wrote with the project's own export
(engines.export.export_checkpoint, parity-checked against PyTorch on real faces):
  generator.onnx        G, fp32: landmarks N×S×S×3 uint8 RGB, psi N×L float32 → frame N×S×S×3 uint8 RGB
  generator-fp16.onnx   G, fp16 with norm statistics in fp32 (GPU engines: ONNX Runtime CUDA, TensorRT)
  embedder.onnx         E + P: portraits K×S×S×3 uint8 RGB, landmarks K×S×S×3 uint8 RGB → psi 1×L float32
  manifest.json         the checkpoint they belong to (file name and sha256), each file's sha256, the export
                        code's fingerprint, git commit and library versions, and the parity figures measured
A graph is used only for the checkpoint whose sha256 the manifest names; any other checkpoint is exported
to the user's cache on first use (engines.cache), which needs PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path

from liveavatar.models.checkpoint import BUNDLED_DIR

GRAPHS_DIR = BUNDLED_DIR / "lite-onnx"
MANIFEST = GRAPHS_DIR / "manifest.json"
# (graph, precision) → file name inside GRAPHS_DIR
FILES = {
    ("generator", "fp32"): "generator.onnx",
    ("generator", "fp16"): "generator-fp16.onnx",
    ("embedder", "fp32"): "embedder.onnx",
}


def read_manifest(path: Path = MANIFEST) -> dict | None:
    """The manifest of the shipped graphs, or None when this build ships none (or it is unreadable)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def bundled_graph(checkpoint_sha256: str, graph: str, precision: str = "fp32") -> Path | None:
    """The shipped graph for this checkpoint, or None when the checkpoint is not the one the graphs came from."""
    name = FILES.get((graph, precision))
    manifest = read_manifest()
    if name is None or manifest is None or not checkpoint_sha256:
        return None
    if manifest.get("checkpoint_sha256") != checkpoint_sha256:
        return None
    path = GRAPHS_DIR / name
    return path if path.is_file() else None
