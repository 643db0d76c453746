"""TensorRT engine (optional: `pip install 'liveavatar[tensorrt]'`, NVIDIA GPU): built from the exported graph.

Graphs: the paper's G (engines.graph_writer: landmarks N×S×S×3 uint8 RGB, psi N×L float32 → frame N×S×S×3
uint8 RGB) and a `warp` preset's frame graph (engines.warp_graph: also texture 1×S×S×3 uint8 RGB, source
1×70×2 and inverse 1×n×n float32 per avatar, driven N×70×2 float32 per frame). Every input's shape comes
from the graph itself: inputs whose first dimension is dynamic get a profile of batch 1..max_batch, the
per-avatar ones batch 1; n of the spline's L⁻¹ is whatever the graph says.

Precision: the warp frame graph is fp32 only (asking for another precision is an error that says so); fp32
is built with TF32 off, so that the spline's solve (L⁻¹ times the driven points, values of a few hundred
pixels) keeps the fp32 precision the ONNX Runtime and PyTorch parity checks were measured with.
fp16 is the fp16 ONNX graph (engines.graph_writer, instance norm and AdaIN statistics in fp32) in a strongly
typed network, so TensorRT keeps exactly the types the graph states. TensorRT 11 only has
strongly typed networks (BuilderFlag.FP16 is gone); on TensorRT 10 we ask for one with the
STRONGLY_TYPED flag rather than BuilderFlag.FP16, because that flag lets the builder run the norm's
reductions in fp16, where the variance overflows.

Plans are cached under cache_root()/tensorrt, keyed by everything that makes a plan unusable elsewhere:
the ONNX file's sha256, TensorRT's version, the GPU's name and compute capability, the precision and the
largest batch. A plan whose key does not match is never loaded; one that TensorRT refuses to deserialize is
rebuilt, and both say so. The timing cache (one file) makes rebuilds after the first fast.

Inference runs with execute_async_v3 on torch CUDA buffers bound by name; with fixed shapes (the live
path's batch of 1) the enqueue is captured in a CUDA graph and replayed. The per-avatar inputs live on the
device and are uploaded again only when another WarpAvatar arrives (a WarpAvatar is frozen, made once per
avatar), so a frame copies only its landmark image, ψ and driven points.

Not run on a real TensorRT here: the development machines have no GPU and no TensorRT. It is written to
the TensorRT 10/11 Python API; tests/test_engines_tensorrt.py runs everything up to that API with a fake
`tensorrt` whose context executes the graph with ONNX Runtime on torch CPU buffers, and
tests/test_tensorrt_ops.py checks every op of the shipped graphs against the ONNX parser's documented
operator support.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from liveavatar.engines.base import WARP_OUTPUTS, EngineError, EngineInputError, EngineUnavailable, check_inputs
from liveavatar.models.checkpoint import file_sha256
from liveavatar.types import WarpAvatar, WarpLayers

if TYPE_CHECKING:
    import torch  # imported where a TensorRT engine is built: the runtime has no torch

MAX_BATCH = 4
WORKSPACE_BYTES = 4 << 30
INSTALL_HINT = "pip install 'liveavatar[tensorrt]' on a machine with an NVIDIA GPU and driver"
PER_FRAME = ("landmarks", "psi", "driven")  # handed over with every infer call
PER_AVATAR = ("texture", "source", "inverse")  # a WarpAvatar's fields: fixed between frames, kept on the device
GENERATOR_OUTPUTS = ("frame",)  # the paper's G; a warp frame graph has WARP_OUTPUTS
Shape = tuple[int, ...]
Profile = dict[str, tuple[Shape, Shape, Shape]]  # input name → (min, opt, max) shape


@dataclass(frozen=True)
class GraphTensor:
    """One input or output of an exported graph, as the graph declares it."""

    name: str
    shape: tuple[int | None, ...]  # None: a dynamic dimension (the exporter makes only the batch one dynamic)
    dtype: str  # numpy name: "uint8" (RGB images) or "float32"


def graph_tensors(onnx_path: Path) -> tuple[list[GraphTensor], list[GraphTensor]]:
    """The graph's inputs and outputs (in its order), read from the ONNX file (no weights): G's one output
    `frame`, or a warp frame graph's WARP_OUTPUTS."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)

    def spec(value) -> GraphTensor:
        tensor = value.type.tensor_type
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        return GraphTensor(value.name, shape, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name)

    inputs = [spec(v) for v in model.graph.input]
    outputs = [spec(v) for v in model.graph.output]
    unknown = [t.name for t in inputs if t.name not in PER_FRAME + PER_AVATAR]
    if unknown or tuple(t.name for t in outputs) not in (GENERATOR_OUTPUTS, WARP_OUTPUTS):
        raise EngineError(
            f"{onnx_path} has inputs {[t.name for t in inputs]} and outputs {[t.name for t in outputs]}; "
            f"a LiveAvatar graph has inputs among {PER_FRAME + PER_AVATAR} and outputs {list(GENERATOR_OUTPUTS)} "
            f"or {list(WARP_OUTPUTS)}"
        )
    return inputs, outputs


def profile_shapes(inputs: list[GraphTensor], max_batch: int) -> Profile:
    """(min, opt, max) per input with a dynamic dimension: batch 1..max_batch for the per-frame inputs
    (opt 1: the live path runs one frame at a time), batch 1 for the per-avatar ones (one avatar per frame).
    Inputs the graph fixes completely need no profile: TensorRT takes their shape from the graph."""
    shapes: Profile = {}
    for tensor in inputs:
        if None not in tensor.shape:
            continue
        if tensor.shape[0] is not None or None in tensor.shape[1:]:
            raise EngineError(f"input {tensor.name} {tensor.shape}: only the batch dimension may be dynamic")
        rest = tuple(int(d) for d in tensor.shape[1:] if d is not None)
        top = 1 if tensor.name in PER_AVATAR else max_batch
        shapes[tensor.name] = ((1, *rest), (1, *rest), (top, *rest))
    return shapes


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


def build_plan(trt, onnx_path: Path, precision: str, profile_dims: Profile, timing_cache: Path, say):
    """Parses the graph and builds a serialized plan (minutes on first build, less with a timing cache).
    profile_dims: profile_shapes() of the graph's inputs."""
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
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default; see the module docstring
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=True)
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in profile_dims.items():
        profile.set_shape(name, low, opt, high)
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
    class Monitor(trt.IProgressMonitor):  # type: ignore[name-defined]  # trt: the module, imported lazily
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
    """A TensorRT plan of a LiveAvatar graph: the paper's G or a `warp` preset's frame graph.

    precision: "fp16" or "fp32" for G (the graph must be that export), "fp32" for the warp frame graph.
    device: "cuda"; "cpu" only where tests stand a fake `tensorrt` in for the real one (torch CPU buffers, no
    stream, no CUDA graph), so everything up to TensorRT's API runs without a GPU.
    """

    def __init__(
        self,
        onnx_path: str | Path,
        precision: str = "fp16",
        cache_dir: Path | None = None,
        max_batch: int = MAX_BATCH,
        cuda_graph: bool = True,
        say=None,
        device: str = "cuda",
    ):
        from liveavatar.engines.cache import cache_root, say_stderr
        from liveavatar.engines.graph_info import read_graph_info

        trt = import_tensorrt()
        import torch

        say = say or say_stderr
        info = read_graph_info(onnx_path, ("generator", "warp_frame"))
        if info.graph == "warp_frame" and precision != "fp32":
            raise EngineError(
                f"{info.path} is a warp preset's frame graph, which is fp32 only: TensorRT builds it in fp32, "
                f"not {precision}"
            )
        if info.precision != precision:
            raise EngineError(
                f"{info.path} is an {info.precision} graph; a {precision} TensorRT engine needs the {precision} export"
            )
        inputs, outputs = graph_tensors(info.path)
        folder = (cache_dir or cache_root()) / "tensorrt"
        key = current_key(file_sha256(info.path), precision, max_batch, trt.__version__)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))

        def build() -> bytes:
            profile = profile_shapes(inputs, max_batch)
            return build_plan(trt, info.path, precision, profile, folder / "timing.cache", say)

        engine, plan_path = load_or_build(runtime, folder, key, build, say)
        self.plan_path = plan_path
        self._runtime = runtime  # must outlive the engine it deserialized
        self._engine = engine
        self._context = engine.create_execution_context()
        self._torch = torch
        self._device = torch.device(device)
        self._stream = torch.cuda.Stream() if self._device.type == "cuda" else None
        self._inputs = inputs
        self._outputs = outputs
        self._buffers: dict[int, dict[str, torch.Tensor]] = {}  # batch → per-frame inputs and the outputs
        self._avatar_buffers = {t.name: self._empty(t, 1) for t in inputs if t.name in PER_AVATAR}
        self._avatar: WarpAvatar | None = None  # the avatar whose arrays _avatar_buffers hold
        self._graphs: dict[int, torch.cuda.CUDAGraph] = {}
        self.cuda_graph = cuda_graph and self._stream is not None
        self.max_batch = max_batch
        self.image_size = info.image_size
        self.psi_size = info.psi_size
        self.name = f"tensorrt-{precision}"
        self.needs_warp = info.graph == "warp_frame"
        self.last_ms = 0.0

    def _empty(self, tensor: GraphTensor, batch: int):
        torch = self._torch
        shape = (batch, *(int(d) for d in tensor.shape[1:] if d is not None))
        return torch.empty(shape, dtype=getattr(torch, tensor.dtype), device=self._device)

    def _bound(self, n: int) -> dict:
        """Device buffers for batch n (the per-avatar ones shared by every n), with every tensor's address set
        to them by name, and the shapes of the inputs the graph leaves dynamic (the others are in the plan)."""
        if n not in self._buffers:
            self._buffers[n] = {t.name: self._empty(t, n) for t in (*self._inputs, *self._outputs)}
            self._buffers[n].update(self._avatar_buffers)
        buffers = self._buffers[n]
        ctx = self._context
        for tensor in (t for t in self._inputs if None in t.shape):
            if not ctx.set_input_shape(tensor.name, tuple(buffers[tensor.name].shape)):
                raise EngineError(
                    f"{self.name}: TensorRT refused shape {tuple(buffers[tensor.name].shape)} for {tensor.name}"
                )
        for name, buffer in buffers.items():
            ctx.set_tensor_address(name, buffer.data_ptr())
        return buffers

    def _upload_avatar(self, warp: WarpAvatar) -> None:
        """Copies a new avatar's texture, landmarks and L⁻¹ into their device buffers (on the engine's stream)."""
        arrays = warp.graph_inputs()
        for name, buffer in self._avatar_buffers.items():
            if arrays[name].shape != tuple(buffer.shape):  # e.g. L⁻¹ of another preset's anchors
                raise EngineInputError(
                    f"{self.name}: the avatar's {name} must be {tuple(buffer.shape)} for this graph, got "
                    f"{arrays[name].shape}; the avatar was probably built for another preset: rebuild it"
                )
        for name, buffer in self._avatar_buffers.items():
            buffer.copy_(self._torch.from_numpy(arrays[name]), non_blocking=True)
        self._avatar = warp

    def infer(
        self,
        landmark_images: np.ndarray,
        psi: np.ndarray,
        warp: WarpAvatar | None = None,
        driven: np.ndarray | None = None,
    ) -> np.ndarray:
        return self._execute(landmark_images, psi, warp, driven)[0]

    def infer_layers(
        self,
        landmark_images: np.ndarray,
        psi: np.ndarray,
        warp: WarpAvatar | None = None,
        driven: np.ndarray | None = None,
    ) -> WarpLayers:
        """A warp frame graph's frames with the layers the full-resolution composite needs (WarpLayers)."""
        if not self.needs_warp:
            raise EngineInputError(f"{self.name}: only a warp model's frame graph has layers")
        return WarpLayers(*self._execute(landmark_images, psi, warp, driven))

    def _execute(
        self, landmark_images: np.ndarray, psi: np.ndarray, warp: WarpAvatar | None, driven: np.ndarray | None
    ) -> list[np.ndarray]:
        """One run: every output of the graph, in its order, copied to the host."""
        psi = check_inputs(self, landmark_images, psi, warp, driven)
        n = len(landmark_images)
        if n > self.max_batch:
            raise EngineError(f"{self.name}: batch {n} is larger than the engine's {self.max_batch}")
        torch = self._torch
        feeds = {"landmarks": np.ascontiguousarray(landmark_images), "psi": psi}  # N×S×S×3 uint8 RGB, N×L
        if driven is not None:
            feeds["driven"] = np.ascontiguousarray(driven, np.float32)  # N×70×2 crop pixels
        start = time.perf_counter()
        buffers = self._bound(n)
        stream = torch.cuda.stream(self._stream) if self._stream is not None else contextlib.nullcontext()
        with stream:
            if warp is not None and warp is not self._avatar:
                self._upload_avatar(warp)
            for name, value in feeds.items():
                buffers[name].copy_(torch.from_numpy(value), non_blocking=True)
            graph = self._graphs.get(n)
            if graph is not None:
                graph.replay()
            elif not self._context.execute_async_v3(self._stream.cuda_stream if self._stream is not None else 0):
                raise EngineError(f"{self.name}: TensorRT failed to run the engine")
            elif self.cuda_graph:
                self._graphs[n] = self._capture()
            # copies: the next call overwrites the buffers
            out = [buffers[t.name].to("cpu", copy=True) for t in self._outputs]
        self.last_ms = (time.perf_counter() - start) * 1000.0
        return [o.numpy() for o in out]

    def _capture(self):
        """Captures one enqueue (shapes already set and run once, as TensorRT asks) as a CUDA graph."""
        torch = self._torch
        graph = torch.cuda.CUDAGraph()
        stream = self._stream
        assert stream is not None  # CUDA graphs are used only on a CUDA stream (cuda_graph in __init__)
        try:
            with torch.cuda.graph(graph, stream=stream):
                self._context.execute_async_v3(stream.cuda_stream)
        except RuntimeError:
            self.cuda_graph = False  # some plans cannot be captured; plain enqueues still work
            return None
        return graph

    def close(self) -> None:
        self._graphs.clear()
        self._buffers.clear()
        self._avatar_buffers.clear()
        self._avatar = None
        self._context = None
        self._engine = None
        self._runtime = None
