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
import hashlib
import io
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from liveavatar.config import ModelConfig
from liveavatar.engines.base import EngineError, EngineUnavailable
from liveavatar.engines.graphs import EmbedderIO, GeneratorIO, reduced_precision
from liveavatar.models.adain_layout import LAYOUT_VERSION
from liveavatar.models.generator import Generator
from liveavatar.models.talking_head import TalkingHead

OPSET = 18
GRAPH_FORMAT_VERSION = 1
MAX_EXPORT_BATCH = 64
PREFIX = "liveavatar."
GENERATOR_INPUTS = "landmarks: N×S×S×3 uint8 RGB 0..255 (rasterize_landmarks); psi: N×L float32 (the avatar's ψ)"
GENERATOR_OUTPUTS = "frame: N×S×S×3 uint8 RGB 0..255"
EMBEDDER_INPUTS = "portraits: K×S×S×3 uint8 RGB 0..255 (face crops); landmarks: K×S×S×3 uint8 RGB 0..255"
EMBEDDER_OUTPUTS = "psi: 1×L float32 (ψ = P·mean_k E(x_k, y_k))"

Say = Callable[[str], None]


@dataclass(frozen=True)
class GraphInfo:
    """What an exported graph says about itself (read from its metadata)."""

    path: Path
    graph: str  # "generator" | "embedder"
    preset: str
    image_size: int
    psi_size: int
    precision: str  # "fp32" | "fp16"
    checkpoint_sha256: str
    weights_sha256: str
    adain_layout_version: int
    format_version: int


def weights_sha256(module: torch.nn.Module) -> str:
    """A hash of a module's weights (names, shapes and values): tells fine-tuned generators apart."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(f"{name}:{tuple(t.shape)};".encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()


def _metadata(graph: str, config: ModelConfig, checkpoint_sha256: str, weights: str, psi_size: int, precision: str):
    inputs, outputs = (
        (GENERATOR_INPUTS, GENERATOR_OUTPUTS) if graph == "generator" else (EMBEDDER_INPUTS, EMBEDDER_OUTPUTS)
    )
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


def _export(module: torch.nn.Module, args: tuple, names: tuple[list[str], list[str]], path: Path, meta: dict[str, str]):
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
            dynamic_shapes=({0: batch}, {0: batch}),
            external_data=False,
            optimize=True,
            verbose=False,
        )
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


def _on_cpu(module: torch.nn.Module) -> torch.nn.Module:
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
    meta = _metadata("generator", config, checkpoint_sha256, weights, size, precision)
    _export(module.eval(), args, (["landmarks", "psi"], ["frame"]), path, meta)
    return path


def export_embedder(model: TalkingHead, path: str | Path, checkpoint_sha256: str) -> Path:
    """Writes E + P (K portraits and landmark images, uint8 → ψ 1×L float32) to `path`."""
    path = Path(path)
    model = _on_cpu(model).eval()
    config = model.config
    s = config.image_size
    args = (torch.zeros(2, s, s, 3, dtype=torch.uint8), torch.zeros(2, s, s, 3, dtype=torch.uint8))
    meta = _metadata("embedder", config, checkpoint_sha256, weights_sha256(model.embedder), model.psi_size, "fp32")
    _export(EmbedderIO(model).eval(), args, (["portraits", "landmarks"], ["psi"]), path, meta)
    return path


def read_graph_info(path: str | Path, graph: str = "generator") -> GraphInfo:
    """Reads and checks an exported graph's metadata; EngineError for a missing, corrupt or foreign file."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise EngineError(f"ONNX file {path} does not exist; export it with `liveavatar export`")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise EngineError(f"{path} is not a readable ONNX file ({type(exc).__name__}); export it again") from exc
    meta = {p.key[len(PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(PREFIX)}
    if meta.get("graph") != graph:
        raise EngineError(
            f"{path} is not a LiveAvatar {graph} graph (it says {meta.get('graph')!r}); "
            "export one with `liveavatar export --checkpoint CKPT --out DIR`"
        )
    try:
        info = GraphInfo(
            path=path,
            graph=graph,
            preset=meta["preset"],
            image_size=int(meta["image_size"]),
            psi_size=int(meta["psi_size"]),
            precision=meta["precision"],
            checkpoint_sha256=meta["checkpoint_sha256"],
            weights_sha256=meta["weights_sha256"],
            adain_layout_version=int(meta["adain_layout_version"]),
            format_version=int(meta["graph_format_version"]),
        )
    except (KeyError, ValueError) as exc:
        raise EngineError(f"{path} has incomplete LiveAvatar metadata ({exc!r}); export it again") from exc
    if info.format_version != GRAPH_FORMAT_VERSION or info.adain_layout_version != LAYOUT_VERSION:
        raise EngineError(
            f"{path} was exported by another LiveAvatar version (graph format {info.format_version}, AdaIN layout "
            f"{info.adain_layout_version}; this one uses {GRAPH_FORMAT_VERSION} and {LAYOUT_VERSION}); export it again"
        )
    return info


def check_matches(info: GraphInfo, config: ModelConfig, psi_size: int, checkpoint_sha256: str | None = None) -> None:
    """EngineError unless the graph was exported for this preset (and, when given, this checkpoint)."""
    if info.preset != config.preset or info.image_size != config.image_size or info.psi_size != psi_size:
        raise EngineError(
            f"{info.path} was exported from preset {info.preset!r} ({info.image_size}px, ψ {info.psi_size}), but the "
            f"model in use is preset {config.preset!r} ({config.image_size}px, ψ {psi_size}); "
            "export the graph from the checkpoint the avatar was built with"
        )
    if checkpoint_sha256 and info.checkpoint_sha256 != checkpoint_sha256:
        raise EngineError(
            f"{info.path} was exported from checkpoint {info.checkpoint_sha256[:12]}…, not {checkpoint_sha256[:12]}…; "
            "export it again from the checkpoint in use"
        )


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


def frame_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """(max, mean) absolute difference of two uint8 frame batches, in 0..255 levels."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(diff.max()), float(diff.mean())
