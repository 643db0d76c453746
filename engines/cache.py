"""The user's engine cache: exported ONNX graphs and TensorRT plans, so `auto` exports once per model.

Layout under cache_root() (LIVEAVATAR_CACHE, else $XDG_CACHE_HOME/liveavatar, else ~/.cache/liveavatar):
  onnx/<preset>-<key>-<code>/generator-<precision>.onnx     the paper's presets (G)
  onnx/<preset>-<key>-<code>/warp_frame-fp32.onnx          `warp` presets: the whole frame (engines.warp_graph)
                                                   key: the checkpoint's sha256 (first 16 hex digits), or
                                                   "ft-" + the generator weights' hash for a fine-tuned avatar;
                                                   code: what the exported graph is made from besides the
                                                   weights (the model and export sources, torch's version)
  tensorrt/<plan key>.plan (+ .json)               see engines.tensorrt_engine
  tensorrt/timing.cache
A cached graph is checked against the model before use; an unreadable or foreign one is exported again,
and the message says so. The bundled checkpoint needs no cache: its graphs ship in the package
(engines.bundled). Finding a cached graph needs no PyTorch; exporting one does (the `train` extra).
"""

from __future__ import annotations

import copy
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from liveavatar.engines.base import EngineError
from liveavatar.engines.graph_info import state_sha256
from liveavatar.environment.optional import import_torch, torch_version
from liveavatar.errors import LiveAvatarError

Say = Callable[[str], None]
PARITY_SAMPLES = 2
PARITY_MAX_LEVELS = 2  # uint8 levels; fp32 ORT vs PyTorch differs by rounding only (≤ 1 measured)


def say_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cache_root() -> Path:
    env = os.environ.get("LIVEAVATAR_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "liveavatar"


def generator_for(checkpoint, generator_state: Mapping[str, Any] | None):
    """The checkpoint's PyTorch generator, or a copy carrying an avatar's fine-tuned weights (arrays or tensors)."""
    torch = import_torch("the PyTorch generator")
    generator = checkpoint.model.generator
    if generator_state is not None:
        generator = copy.deepcopy(generator)
        try:
            generator.load_state_dict({k: torch.as_tensor(v) for k, v in generator_state.items()})
        except RuntimeError as exc:
            raise EngineError(
                f"the avatar's fine-tuned generator weights do not fit preset {checkpoint.config.preset!r} "
                f"({str(exc).splitlines()[0]}); fine-tune the avatar again with this checkpoint"
            ) from exc
    return generator.eval()


# The sources a generator graph is traced from: a change to any of them (a new AdaIN formulation, another
# wrapper) must not reuse a graph exported by the old code for the same weights.
_GRAPH_SOURCES = (
    ("liveavatar.models", ("blocks.py", "generator.py", "adain_layout.py")),
    ("liveavatar.engines", ("graphs.py", "graph_writer.py")),
)
# A `warp` preset's frame graph is also traced from the spline, the composite and its wrapper.
_WARP_SOURCES = (
    ("liveavatar.models", ("warp.py", "tps_system.py", "warp_head.py")),
    ("liveavatar.engines", ("warp_graph.py",)),
)


def code_fingerprint(graph: str = "generator") -> str:
    """Hash of the sources the exported graph (`graph`: "generator" or "warp_frame") is made from, and of
    torch's version (the exporter; read from its package metadata, so finding a cached graph does not
    import torch)."""
    import hashlib
    import importlib.resources

    digest = hashlib.sha256((torch_version() or "none").encode())
    for package, names in _GRAPH_SOURCES + (_WARP_SOURCES if graph == "warp_frame" else ()):
        folder = importlib.resources.files(package)  # the package's own folder, wherever package-dir put it
        for name in names:
            digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:8]


def model_key(checkpoint, generator_state: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """(cache folder name, weights hash to check or None when the checkpoint hash identifies the weights)."""
    from liveavatar.engines.graph_info import frame_graph

    preset = checkpoint.config.preset
    code = code_fingerprint(frame_graph(checkpoint.config))
    if checkpoint.sha256 and generator_state is None:
        return f"{preset}-{checkpoint.sha256[:16]}-{code}", None
    weights = state_sha256(generator_state if generator_state is not None else checkpoint.model.generator.state_dict())
    return f"{preset}-ft-{weights[:16]}-{code}", weights


def cached_generator_onnx(
    checkpoint,
    generator_state: Mapping[str, Any] | None = None,
    precision: str = "fp32",
    say: Say | None = None,
    root: Path | None = None,
) -> Path:
    """The graph an engine runs every frame for this checkpoint (and avatar weights): the paper's G, or for a
    `warp` preset its whole frame graph (fp32 only). Shipped with the package for the bundled model, else
    from the cache, else exported on first use (which needs PyTorch and says so)."""
    from liveavatar.engines.bundled import bundled_graph
    from liveavatar.engines.graph_info import frame_graph
    from liveavatar.models.adain_layout import layout_for

    say = say or say_stderr
    graph = frame_graph(checkpoint.config)
    if graph == "warp_frame" and precision != "fp32":
        raise EngineError(f"the {checkpoint.config.preset} frame graph is exported in fp32 only, not {precision}")
    if generator_state is None:
        shipped = bundled_graph(checkpoint.sha256, graph, precision)
        if shipped is not None:
            return shipped
    psi_size = layout_for(checkpoint.config.generator).size
    folder, weights = model_key(checkpoint, generator_state)
    cache = (root or cache_root()) / "onnx"
    file_name = f"{graph}-{precision}.onnx"
    path = cache / folder / file_name
    if path.exists():
        try:
            return _checked(path, checkpoint, psi_size, weights, precision)
        except LiveAvatarError as exc:
            say(f"cached ONNX graph is unusable ({exc}); exporting it again")
    what = {"generator": "generator", "warp_frame": "frame graph"}[graph]
    what = f"fine-tuned {what}" if generator_state is not None else what
    try:
        import_torch(f"exporting the {checkpoint.config.preset} {what} of this checkpoint to ONNX (once)")
    except LiveAvatarError:
        # Exported earlier by another torch or source version: usable, since it cannot be exported again here.
        stem = folder.rsplit("-", 1)[0]
        for other in sorted(cache.glob(f"{stem}-*/{file_name}")):
            try:
                return _checked(other, checkpoint, psi_size, weights, precision)
            except LiveAvatarError:
                continue
        raise
    generator = generator_for(checkpoint, generator_state)
    say(f"exporting the {checkpoint.config.preset} {what} to ONNX ({precision}) → {path} (once per model) …")
    start = time.perf_counter()
    try:
        if graph == "warp_frame":
            _export_warp_frame(checkpoint, generator, path)
        else:
            from liveavatar.engines.graph_writer import export_generator

            export_generator(generator, checkpoint.config, path, checkpoint.sha256, precision)
            if precision == "fp32":
                _check_parity(path, generator)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    say(f"exported in {time.perf_counter() - start:.0f} s")
    return path


def _export_warp_frame(checkpoint, generator, path: Path) -> None:
    """A `warp` preset's frame graph, checked against PyTorch on the real-face template driven by the
    scripted performance (what `auto` exports on first use; `liveavatar export` checks on real faces)."""
    from liveavatar.engines.samples import TEMPLATE_68, smooth_texture, synthetic_points
    from liveavatar.engines.warp_graph import export_warp_frame, warp_frame_difference

    model = checkpoint.model
    size = checkpoint.config.image_size
    export_warp_frame(model, TEMPLATE_68 * size, path, checkpoint.sha256, generator)
    rng = np.random.default_rng(0)
    psi = (0.1 * rng.standard_normal((1, model.psi_size))).astype(np.float32)
    points = synthetic_points(size, PARITY_SAMPLES)
    worst, _ = warp_frame_difference(path, model, points, smooth_texture(size), psi, generator)
    if worst > PARITY_MAX_LEVELS:
        raise EngineError(f"the exported graph {path} differs from PyTorch by {worst} levels; please report this")


def _checked(path: Path, checkpoint, psi_size: int, weights: str | None, precision: str) -> Path:
    """`path` if it holds this checkpoint's (or these weights') generator at `precision`, else EngineError."""
    from liveavatar.engines.graph_info import check_matches, frame_graph, read_graph_info

    info = read_graph_info(path, frame_graph(checkpoint.config))
    check_matches(info, checkpoint.config, psi_size, checkpoint.sha256 or None)
    if weights is not None and info.weights_sha256 != weights:
        raise EngineError(f"{path} holds other generator weights")
    if info.precision != precision:
        raise EngineError(f"{path} is {info.precision}, not {precision}")
    return path


def _check_parity(path: Path, generator) -> None:
    """A quick ORT-vs-PyTorch check of a freshly cached graph on synthetic landmark images."""
    from liveavatar.engines.graph_writer import frame_difference, reference_frames
    from liveavatar.engines.ort_engine import OrtEngine
    from liveavatar.engines.samples import synthetic_landmark_images

    images = synthetic_landmark_images(generator.image_size, PARITY_SAMPLES)
    rng = np.random.default_rng(0)
    psi = (0.1 * rng.standard_normal((PARITY_SAMPLES, generator.layout.size))).astype(np.float32)
    engine = OrtEngine(path)
    try:
        worst, _ = frame_difference(engine.infer(images, psi), reference_frames(generator, images, psi))
    finally:
        engine.close()
    if worst > PARITY_MAX_LEVELS:
        raise EngineError(f"the exported graph {path} differs from PyTorch by {worst} levels; please report this")
