"""TensorRT engine (optional: `pip install 'liveavatar[tensorrt]'`, NVIDIA GPU): built from the exported graph.

Precision: fp16 is the fp16 ONNX graph (engines.graph_writer, instance norm and AdaIN statistics in fp32)
in a strongly typed network, so TensorRT keeps exactly the types the graph states. TensorRT 11 only has
strongly typed networks (BuilderFlag.FP16 is gone); on TensorRT 10 we ask for one with the
STRONGLY_TYPED flag rather than BuilderFlag.FP16, because that flag lets the builder run the norm's
reductions in fp16, where the variance overflows.

Plans are cached under cache_root()/tensorrt, keyed by everything that makes a plan unusable elsewhere:
the ONNX file's sha256, TensorRT's version, the GPU's name and compute capability, the precision and the
largest batch. A plan whose key does not match is never loaded; one that TensorRT refuses to deserialize is
rebuilt, and both say so. The timing cache (one file) makes rebuilds after the first fast.

Inference runs with execute_async_v3 on torch CUDA buffers; with fixed shapes (the live path's batch of 1)
the enqueue is captured in a CUDA graph and replayed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from liveavatar.engines.base import EngineError, EngineUnavailable, check_inputs
from liveavatar.models.checkpoint import file_sha256

if TYPE_CHECKING:
    import torch  # imported where a TensorRT engine is built: the runtime has no torch

MAX_BATCH = 4
WORKSPACE_BYTES = 4 << 30
INSTALL_HINT = "pip install 'liveavatar[tensorrt]' on a machine with an NVIDIA GPU and driver"


@dataclass(frozen=True)
class PlanKey:
    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: str  # e.g. "9.0"
    precision: str
    max_batch: int

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:24]

    def differences(self, other: PlanKey) -> list[str]:
        return [
            f"{name} {getattr(other, name)} (here {getattr(self, name)})"
            for name in ("tensorrt_version", "gpu_name", "compute_capability", "precision", "max_batch")
            if getattr(self, name) != getattr(other, name)
        ]


def import_tensorrt():
    """The tensorrt module, or EngineUnavailable naming what is missing."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise EngineUnavailable(f"tensorrt: not installed; {INSTALL_HINT}") from exc
    try:
        import torch
    except ImportError as exc:
        raise EngineUnavailable(
            "tensorrt: its buffers live in PyTorch CUDA memory, and PyTorch is not installed (pip install "
            "'liveavatar[train]' with a CUDA build of torch)"
        ) from exc

    if not torch.cuda.is_available():
        raise EngineUnavailable("tensorrt: no CUDA GPU visible to PyTorch (TensorRT buffers live in torch CUDA memory)")
    return trt


def current_key(onnx_sha256: str, precision: str, max_batch: int, trt_version: str, device: int = 0) -> PlanKey:
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    return PlanKey(
        onnx_sha256, trt_version, torch.cuda.get_device_name(device), f"{major}.{minor}", precision, max_batch
    )


def find_plan(folder: Path, key: PlanKey) -> tuple[Path, list[str]]:
    """The plan path for `key`, and why each other cached plan of the same graph cannot be used here."""
    stale = []
    for sidecar in sorted(folder.glob("*.json")):
        try:
            other = PlanKey(**json.loads(sidecar.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if other.onnx_sha256 == key.onnx_sha256 and other != key:
            stale.append(f"{sidecar.with_suffix('.plan').name} was built for " + ", ".join(key.differences(other)))
    return folder / f"{key.digest()}.plan", stale


def write_plan(path: Path, plan: bytes, key: PlanKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_bytes(plan)
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps(asdict(key), sort_keys=True))


def read_plan(path: Path, key: PlanKey) -> bytes | None:
    """The cached plan if its sidecar names exactly this key, else None."""
    sidecar = path.with_suffix(".json")
    if not path.is_file() or not sidecar.is_file():
        return None
    try:
        if PlanKey(**json.loads(sidecar.read_text())) != key:
            return None
        return path.read_bytes()
    except (OSError, ValueError, TypeError):
        return None


def load_or_build(runtime, folder: Path, key: PlanKey, build: Callable[[], bytes], say) -> tuple[Any, Path]:
    """The deserialized engine for `key`: from the cache when a plan for exactly this key loads, else built.

    Plans cached for another GPU, TensorRT version or precision are named in a message and left alone
    (another machine sharing the cache may still use them); a plan TensorRT refuses is rebuilt.
    """
    plan_path, stale = find_plan(folder, key)
    for reason in stale:
        say(f"cached TensorRT engine not usable here: {reason}; using one built for this setup")
    plan = read_plan(plan_path, key)
    engine = runtime.deserialize_cuda_engine(plan) if plan is not None else None
    if plan is not None and engine is None:
        say(f"cached TensorRT engine {plan_path.name} could not be loaded; rebuilding it")
    if engine is None:
        say(
            f"building a TensorRT {key.precision} engine for {key.gpu_name} "
            f"(TensorRT {key.tensorrt_version}; once per GPU) …"
        )
        start = time.perf_counter()
        plan = build()
        write_plan(plan_path, plan, key)
        engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise EngineError("TensorRT built an engine it cannot load; please report this with `liveavatar doctor`")
        say(f"built in {time.perf_counter() - start:.0f} s → {plan_path}")
    return engine, plan_path


def build_plan(
    trt, onnx_path: Path, precision: str, max_batch: int, image_size: int, psi_size: int, timing_cache: Path, say
):
    """Parses the graph and builds a serialized plan (minutes on first build, less with a timing cache)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0
    if major < 11 and precision == "fp16":
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=True)
    profile = builder.create_optimization_profile()
    s = image_size
    profile.set_shape("landmarks", (1, s, s, 3), (1, s, s, 3), (max_batch, s, s, 3))
    profile.set_shape("psi", (1, psi_size), (1, psi_size), (max_batch, psi_size))
    config.add_optimization_profile(profile)
    if hasattr(trt, "IProgressMonitor"):
        config.progress_monitor = _progress_monitor(trt, say)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError(f"TensorRT could not build an engine from {onnx_path} (see the messages above)")
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return bytes(plan)


def _progress_monitor(trt, say):
    class Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name, parent_phase, num_steps):
            if parent_phase is None:
                say(f"  TensorRT: {phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name, step):
            return True  # never cancel

        def phase_finish(self, phase_name):
            pass

    return Monitor()


class TensorRTEngine:
    def __init__(
        self,
        onnx_path: str | Path,
        precision: str = "fp16",
        cache_dir: Path | None = None,
        max_batch: int = MAX_BATCH,
        cuda_graph: bool = True,
        say=None,
    ):
        from liveavatar.engines.cache import cache_root, say_stderr
        from liveavatar.engines.graph_info import read_graph_info

        trt = import_tensorrt()
        import torch

        say = say or say_stderr
        info = read_graph_info(onnx_path, "generator")
        if info.precision != precision:
            raise EngineError(
                f"{info.path} is an {info.precision} graph; a {precision} TensorRT engine needs the {precision} export"
            )
        folder = (cache_dir or cache_root()) / "tensorrt"
        key = current_key(file_sha256(info.path), precision, max_batch, trt.__version__)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))

        def build() -> bytes:
            return build_plan(
                trt, info.path, precision, max_batch, info.image_size, info.psi_size, folder / "timing.cache", say
            )

        engine, plan_path = load_or_build(runtime, folder, key, build, say)
        self.plan_path = plan_path
        self._runtime = runtime  # must outlive the engine it deserialized
        self._engine = engine
        self._context = engine.create_execution_context()
        self._stream = torch.cuda.Stream()
        self._torch = torch
        self._buffers: dict[int, tuple] = {}
        self._graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.cuda_graph = cuda_graph
        self.max_batch = max_batch
        self.image_size = info.image_size
        self.psi_size = info.psi_size
        self.name = f"tensorrt-{precision}"
        self.needs_warp = False  # the paper's G only: `warp` checkpoints are refused by the registry
        self.last_ms = 0.0

    def _bound(self, n: int):
        """Device buffers for batch n, with the context's shapes and addresses set to them."""
        torch = self._torch
        if n not in self._buffers:
            s = self.image_size
            self._buffers[n] = (
                torch.empty(n, s, s, 3, dtype=torch.uint8, device="cuda"),
                torch.empty(n, self.psi_size, dtype=torch.float32, device="cuda"),
                torch.empty(n, s, s, 3, dtype=torch.uint8, device="cuda"),
            )
        images, psi, frames = self._buffers[n]
        ctx = self._context
        ctx.set_input_shape("landmarks", tuple(images.shape))
        ctx.set_input_shape("psi", tuple(psi.shape))
        for name, tensor in (("landmarks", images), ("psi", psi), ("frame", frames)):
            ctx.set_tensor_address(name, tensor.data_ptr())
        return images, psi, frames

    def infer(self, landmark_images: np.ndarray, psi: np.ndarray, warp=None, driven=None) -> np.ndarray:
        psi = check_inputs(self, landmark_images, psi, warp, driven)
        n = len(landmark_images)
        if n > self.max_batch:
            raise EngineError(f"{self.name}: batch {n} is larger than the engine's {self.max_batch}")
        torch = self._torch
        start = time.perf_counter()
        images, psi_t, frames = self._bound(n)
        with torch.cuda.stream(self._stream):
            images.copy_(torch.from_numpy(np.ascontiguousarray(landmark_images)), non_blocking=True)
            psi_t.copy_(torch.from_numpy(psi), non_blocking=True)
            graph = self._graphs.get(n)
            if graph is not None:
                graph.replay()
            elif not self._context.execute_async_v3(self._stream.cuda_stream):
                raise EngineError(f"{self.name}: TensorRT failed to run the engine")
            elif self.cuda_graph:
                self._graphs[n] = self._capture()
            out = frames.cpu()
        self.last_ms = (time.perf_counter() - start) * 1000.0
        return out.numpy()

    def _capture(self):
        """Captures one enqueue (shapes already set and run once, as TensorRT asks) as a CUDA graph."""
        torch = self._torch
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=self._stream):
                self._context.execute_async_v3(self._stream.cuda_stream)
        except RuntimeError:
            self.cuda_graph = False  # some plans cannot be captured; plain enqueues still work
            return None
        return graph

    def close(self) -> None:
        self._graphs.clear()
        self._buffers.clear()
        self._context = None
        self._engine = None
        self._runtime = None
