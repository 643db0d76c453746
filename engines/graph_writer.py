"""Checkpoint → ONNX: the generator (every frame) and the embedder + projection (once per avatar).

Graphs (torch's dynamo exporter, opset 18: opset 17 exports an invalid Split for ψ's slices), one file
each, weights inside (no external data), spectral norm already folded by the checkpoint format:
  generator[-fp16].onnx  landmarks N×S×S×3 uint8 RGB 0..255, psi N×L float32 → frame N×S×S×3 uint8 RGB
  embedder.onnx          portraits K×S×S×3 uint8 RGB, landmarks K×S×S×3 uint8 RGB → psi 1×L float32
N and K are dynamic. ψ is an input, never a constant: one graph serves every avatar of a checkpoint.
Metadata (model.metadata_props, keys prefixed "liveavatar."): graph, graph_format_version, preset,
model_config, checkpoint_sha256, weights_sha256 (differs from the checkpoint's for fine-tuned avatars),
adain_layout_version, image_size, psi_size, precision, inputs, outputs.

The fp16 generator keeps instance norm and AdaIN statistics in fp32 (see engines.graphs).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from liveavatar.config import ModelConfig
from liveavatar.engines.base import EngineUnavailable
from liveavatar.engines.graph_info import (  # noqa: F401  (re-exported: the reading side lives there, torch-free)
    GRAPH_FORMAT_VERSION,
    PREFIX,
    GraphInfo,
    check_matches,
    frame_difference,
    read_graph_info,
    state_sha256,
)
from liveavatar.engines.graphs import EmbedderIO, GeneratorIO, reduced_precision
from liveavatar.models.adain_layout import LAYOUT_VERSION
from liveavatar.models.generator import Generator
from liveavatar.models.talking_head import TalkingHead

OPSET = 18
MAX_EXPORT_BATCH = 64
GENERATOR_INPUTS = "landmarks: N×S×S×3 uint8 RGB 0..255 (rasterize_landmarks); psi: N×L float32 (the avatar's ψ)"
GENERATOR_OUTPUTS = "frame: N×S×S×3 uint8 RGB 0..255"
EMBEDDER_INPUTS = "portraits: K×S×S×3 uint8 RGB 0..255 (face crops); landmarks: K×S×S×3 uint8 RGB 0..255"
EMBEDDER_OUTPUTS = "psi: 1×L float32 (ψ = P·mean_k E(x_k, y_k))"
WARP_FRAME_INPUTS = (
    "landmarks: N×S×S×3 uint8 RGB; psi: N×L float32; texture: 1×S×S×3 uint8 RGB (the avatar's crop); "
    "source: 1×70×2 float32 crop pixels (68 landmarks, 2 irises); inverse: 1×n×n float32 (the spline's L⁻¹); "
    "driven: N×70×2 float32 crop pixels"
)

Say = Callable[[str], None]
_M = TypeVar("_M", bound=torch.nn.Module)


def weights_sha256(module: torch.nn.Module) -> str:
    """A hash of a module's weights (names, shapes and values): tells fine-tuned generators apart."""
    return state_sha256(module.state_dict())


def graph_metadata(
    graph: str, config: ModelConfig, checkpoint_sha256: str, weights: str, psi_size: int, precision: str
):
    inputs, outputs = {
        "generator": (GENERATOR_INPUTS, GENERATOR_OUTPUTS),
        "embedder": (EMBEDDER_INPUTS, EMBEDDER_OUTPUTS),
        "warp_frame": (WARP_FRAME_INPUTS, GENERATOR_OUTPUTS),
    }[graph]
    return {
        "graph": graph,
        "graph_format_version": str(GRAPH_FORMAT_VERSION),
        "preset": config.preset,
        "model_config": config.to_json(),
        "checkpoint_sha256": checkpoint_sha256,
        "weights_sha256": weights,
        "adain_layout_version": str(LAYOUT_VERSION),
        "image_size": str(config.image_size),
        "psi_size": str(psi_size),
        "precision": precision,
        "inputs": inputs,
        "outputs": outputs,
    }


@contextlib.contextmanager
def _quiet_exporter():
    """The dynamo exporter logs and warns a lot that is not the user's business (missing torchvision ops…)."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._export", "torch.export", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def write_graph(
    module: torch.nn.Module,
    args: tuple,
    names: tuple[list[str], list[str]],
    path: Path,
    meta: dict[str, str],
    batched: tuple[int, ...] | None = None,
) -> None:
    """Exports `module` (dynamo, opset OPSET) with a dynamic batch on the inputs at `batched` (all by
    default; per-avatar inputs stay fixed), adds `meta` as graph metadata, checks it and writes it atomically."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (the dynamo exporter needs it; fail here with a clear message)
    except ImportError as exc:
        raise EngineUnavailable(f"ONNX export needs the {exc.name} package (pip install onnx onnxscript)") from exc
    batch = torch.export.Dim("batch", min=1, max=MAX_EXPORT_BATCH)
    with _quiet_exporter(), torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(
            module,
            args,
            dynamo=True,
            opset_version=OPSET,
            input_names=names[0],
            output_names=names[1],
            dynamic_shapes=tuple({0: batch} if batched is None or i in batched else None for i in range(len(args))),
            external_data=False,
            optimize=True,
            verbose=False,
        )
    assert program is not None  # dynamo=True always returns the program
    model = program.model_proto
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = PREFIX + key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        onnx.save_model(model, str(tmp), save_as_external_data=False)
        tmp.replace(path)  # a crash never leaves a half-written graph under the real name
    finally:
        tmp.unlink(missing_ok=True)


def _on_cpu(module: _M) -> _M:
    """The module itself if it lives on the CPU, else a CPU copy: the example inputs are CPU tensors, and
    moving the caller's model (a CUDA engine may be using it) is not ours to do."""
    if all(t.device.type == "cpu" for t in module.state_dict().values()):
        return module
    return copy.deepcopy(module).cpu()


def export_generator(
    generator: Generator,
    config: ModelConfig,
    path: str | Path,
    checkpoint_sha256: str,
    precision: str = "fp32",
) -> Path:
    """Writes G wrapped by GeneratorIO (uint8 in, uint8 out) to `path`; fp16 keeps norms in fp32."""
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be fp32 or fp16, got {precision!r}")
    path = Path(path)
    generator = _on_cpu(generator).eval()
    weights = weights_sha256(generator)
    if precision == "fp16":
        module = GeneratorIO(reduced_precision(generator, torch.float16), torch.float16)
    else:
        module = GeneratorIO(generator, torch.float32)
    s, size = config.image_size, generator.layout.size
    args = (torch.zeros(2, s, s, 3, dtype=torch.uint8), torch.zeros(2, size))
    meta = graph_metadata("generator", config, checkpoint_sha256, weights, size, precision)
    write_graph(module.eval(), args, (["landmarks", "psi"], ["frame"]), path, meta)
    return path


def export_embedder(model: TalkingHead, path: str | Path, checkpoint_sha256: str) -> Path:
    """Writes E + P (K portraits and landmark images, uint8 → ψ 1×L float32) to `path`."""
    path = Path(path)
    model = _on_cpu(model).eval()
    config = model.config
    s = config.image_size
    args = (torch.zeros(2, s, s, 3, dtype=torch.uint8), torch.zeros(2, s, s, 3, dtype=torch.uint8))
    meta = graph_metadata("embedder", config, checkpoint_sha256, weights_sha256(model.embedder), model.psi_size, "fp32")
    write_graph(EmbedderIO(model).eval(), args, (["portraits", "landmarks"], ["psi"]), path, meta)
    return path


def psi_for(model: TalkingHead, images: np.ndarray, crops: np.ndarray | None, seed: int = 0) -> np.ndarray:
    """ψ rows to check a generator with: the embedder's on real crops, else seeded small random vectors."""
    if crops is not None:
        with torch.inference_mode():
            psi = EmbedderIO(model.eval())(torch.from_numpy(crops), torch.from_numpy(images))
        return np.repeat(psi.numpy(), len(images), axis=0).astype(np.float32)
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((len(images), model.psi_size))).astype(np.float32)


def reference_frames(generator: Generator, images: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """The PyTorch fp32 eager frames every engine is compared with: N×S×S×3 uint8."""
    with torch.inference_mode():
        return GeneratorIO(generator.eval())(torch.from_numpy(images), torch.from_numpy(psi)).numpy()
