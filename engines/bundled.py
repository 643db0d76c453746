"""The ONNX graphs of the bundled model, shipped in the package so the runtime needs no PyTorch.

The package ships one model: liveavatar/assets/NAME.safetensors (models.checkpoint.bundled_checkpoint; NAME
is its preset: `lite` today) with NAME_discriminator.safetensors for fine-tuning, and beside them NAME-onnx/,
what tools/export_bundled_graphs.py wrote with the project's own export (engines.export.export_checkpoint,
parity-checked against PyTorch on real faces):
  the paper's presets (lite):
    generator.onnx        G, fp32: landmarks N×S×S×3 uint8 RGB, psi N×L float32 → frame N×S×S×3 uint8 RGB
    generator-fp16.onnx   G, fp16 with norm statistics in fp32 (GPU engines: ONNX Runtime CUDA, TensorRT)
  the `warp` presets:
    warp_frame.onnx       the whole frame, fp32 (engines.warp_graph: landmarks, ψ, the avatar's texture,
                          landmarks and L⁻¹, the driven landmarks → frame)
  both:
    embedder.onnx         E + P: portraits K×S×S×3 uint8 RGB, landmarks K×S×S×3 uint8 RGB → psi 1×L float32
    manifest.json         the checkpoint they belong to (file name and sha256), each file's graph, precision
                          and sha256, the export code's fingerprint, git commit and library versions, and the
                          parity figures measured
A graph is used only for the checkpoint whose sha256 the manifest names; any other checkpoint is exported
to the user's cache on first use (engines.cache), which needs PyTorch. Which model is bundled is changed by
one command, `python tools/export_bundled_graphs.py --checkpoint RUN/checkpoint.safetensors` (docs/TRAINING.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from liveavatar.config import ModelConfig

MANIFEST_NAME = "manifest.json"
# Per kind of frame graph (engines.graph_info.frame_graph): (graph, precision) → file name in the graphs folder.
FILES: dict[str, dict[tuple[str, str], str]] = {
    "generator": {
        ("generator", "fp32"): "generator.onnx",
        ("generator", "fp16"): "generator-fp16.onnx",
        ("embedder", "fp32"): "embedder.onnx",
    },
    "warp_frame": {
        ("warp_frame", "fp32"): "warp_frame.onnx",
        ("embedder", "fp32"): "embedder.onnx",
    },
}


def files_for(config: ModelConfig) -> dict[tuple[str, str], str]:
    """The graphs a bundled checkpoint of this model ships: (graph, precision) → file name."""
    from liveavatar.engines.graph_info import frame_graph

    return FILES[frame_graph(config)]


def graphs_dir_for(checkpoint: Path) -> Path:
    """Where a bundled checkpoint's graphs live: NAME-onnx/ beside NAME.safetensors."""
    return checkpoint.with_name(checkpoint.stem + "-onnx")


def graphs_dir() -> Path | None:
    """The bundled model's graphs folder, or None when this build ships no model."""
    from liveavatar.models.checkpoint import bundled_checkpoint

    checkpoint = bundled_checkpoint()
    return None if checkpoint is None else graphs_dir_for(checkpoint)


def read_manifest(path: Path | None = None) -> dict | None:
    """The manifest of the shipped graphs (default: the bundled model's), or None when this build ships none
    (or it is unreadable)."""
    if path is None:
        folder = graphs_dir()
        if folder is None:
            return None
        path = folder / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def bundled_graph(checkpoint_sha256: str, graph: str, precision: str = "fp32") -> Path | None:
    """The shipped graph for this checkpoint, or None when the checkpoint is not the one the graphs came from
    (or the bundled model ships no such graph)."""
    folder = graphs_dir()
    if folder is None or not checkpoint_sha256:
        return None
    manifest = read_manifest(folder / MANIFEST_NAME)
    if manifest is None or manifest.get("checkpoint_sha256") != checkpoint_sha256:
        return None
    for name, entry in manifest["files"].items():
        if isinstance(entry, dict) and (entry.get("graph"), entry.get("precision")) == (graph, precision):
            path = folder / Path(name).name  # a name, never a path out of the folder
            return path if path.is_file() else None
    return None
