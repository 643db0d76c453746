"""Reading what an exported graph says about itself: no PyTorch, so the runtime can check graphs too.

engines.graph_writer writes the metadata (model.metadata_props, keys prefixed "liveavatar."); see its
docstring for the keys. `read_graph_info` reads and checks them, `check_matches` compares them with the
model in use; `frame_difference` is how every parity check counts uint8 levels; `state_sha256` is the
weights' hash a fine-tuned generator's graph is keyed and labelled by.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liveavatar.config import ModelConfig
from liveavatar.engines.base import EngineError
from liveavatar.files.text import printable
from liveavatar.models.adain_layout import LAYOUT_VERSION

GRAPH_FORMAT_VERSION = 1
PREFIX = "liveavatar."


@dataclass(frozen=True)
class GraphInfo:
    """What an exported graph says about itself (read from its metadata)."""

    path: Path
    graph: str  # "generator" | "embedder" | "warp_frame" (a `warp` checkpoint's whole frame: engines.warp_graph)
    preset: str
    image_size: int
    psi_size: int
    precision: str  # "fp32" | "fp16"
    checkpoint_sha256: str
    weights_sha256: str
    adain_layout_version: int
    format_version: int


def frame_graph(config: ModelConfig) -> str:
    """The graph an engine runs every frame for this model: the paper's G, or a `warp` preset's frame graph."""
    return "generator" if config.warp is None else "warp_frame"


def read_graph_info(path: str | Path, graph: str | tuple[str, ...] = "generator") -> GraphInfo:
    """Reads and checks an exported graph's metadata; EngineError for a missing, corrupt or foreign file.
    `graph`: the kind expected, or the kinds accepted."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise EngineError(f"ONNX file {path} does not exist; export it with `liveavatar export`")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise EngineError(f"{path} is not a readable ONNX file ({type(exc).__name__}); export it again") from exc
    meta = {p.key[len(PREFIX) :]: p.value for p in model.metadata_props if p.key.startswith(PREFIX)}
    kinds = (graph,) if isinstance(graph, str) else graph
    if meta.get("graph") not in kinds:
        raise EngineError(
            f"{path} is not a LiveAvatar {kinds[0]} graph{''.join(f' (nor a {k} graph)' for k in kinds[1:])} "
            f"(it says {printable(meta.get('graph'))!r}); "
            "export one with `liveavatar export --checkpoint CKPT --out DIR`"
        )
    try:
        info = GraphInfo(
            path=path,
            graph=meta["graph"],
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


def frame_difference(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """(max, mean) absolute difference of two uint8 frame batches, in 0..255 levels."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(diff.max()), float(diff.mean())


def state_sha256(state: Mapping[str, Any]) -> str:
    """A hash of weights (names, shapes and float32 values; torch tensors or numpy arrays alike): tells
    fine-tuned generators apart. graph_writer.weights_sha256(module) is this hash of module.state_dict()."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(state):
        value = state[name]
        if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU
            value = value.detach().to("cpu").float().numpy()
        array = np.ascontiguousarray(value, dtype=np.float32)
        digest.update(f"{name}:{tuple(array.shape)};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
