"""ONNX Runtime engine: the exported generator graph on the CPU, or on CUDA with onnxruntime-gpu.

The same engine runs a `warp` preset's frame graph (engines.warp_graph: the spline warp, grid_sample, G and
the composite in one graph): its metadata says which, and `needs_warp` tells the caller to hand over the
avatar's WarpAvatar and the driven landmarks with every frame.

Session settings are chosen for a live app on few cores: a fixed, small intra-op pool (the capture,
landmark and UI threads need cores too), no inter-op parallelism (the graph is a chain), all graph
optimisations, and no spin-waiting: ORT's workers otherwise busy-wait between runs and starve the other
threads of the pipeline, which costs more than the microseconds spinning saves a single run.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from liveavatar.config import ModelConfig
from liveavatar.engines.base import WARP_OUTPUTS, EngineError, EngineInputError, EngineUnavailable, check_inputs
from liveavatar.environment.machine import available_cores
from liveavatar.types import WarpAvatar, WarpLayers

OPTIMIZATION_LEVELS = ("disabled", "basic", "extended", "all")
MAX_DEFAULT_THREADS = 4


def default_threads() -> int:
    """All cores this process may use, up to 4: beyond that a 2-4 GFLOP graph gains little per thread."""
    return max(1, min(available_cores(), MAX_DEFAULT_THREADS))


def cuda_provider_available() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def session_options(threads: int | None = None, optimization: str = "all", spinning: bool = False):
    import onnxruntime as ort

    if optimization not in OPTIMIZATION_LEVELS:
        raise ValueError(f"optimization must be one of {OPTIMIZATION_LEVELS}, got {optimization!r}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = {
        "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    spin = "1" if spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spin)
    options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initializers are noise here
    return options


class OrtEngine:
    """Runs a generator graph exported by engines.graph_writer, or a `warp` preset's frame graph exported by
    engines.warp_graph (uint8 RGB in and out).

    expected: the model the avatar belongs to; a graph from another preset is refused (EngineError).
    io_binding: bind the output to a buffer allocated once (on the device for CUDA) instead of letting
    ORT allocate a new one per run.
    """

    def __init__(
        self,
        onnx_path: str | Path,
        device: str = "cpu",
        threads: int | None = None,
        optimization: str = "all",
        spinning: bool = False,
        io_binding: bool | None = None,
        expected: tuple[ModelConfig, int] | None = None,
    ):
        import onnxruntime as ort

        from liveavatar.engines.graph_info import check_matches, read_graph_info

        if device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got {device!r}")
        info = read_graph_info(onnx_path, ("generator", "warp_frame"))
        if expected is not None:
            check_matches(info, expected[0], expected[1])
        providers: list = ["CPUExecutionProvider"]
        if device == "cuda":
            if not cuda_provider_available():
                raise EngineUnavailable(
                    "onnxruntime-cuda: this onnxruntime has no CUDA provider (pip install onnxruntime-gpu "
                    "instead of onnxruntime)"
                )
            providers = [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(
                str(info.path), session_options(threads, optimization, spinning), providers=providers
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph types for unusable graphs
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EngineError(f"ONNX Runtime cannot load {info.path}: {first_line}") from exc
        if device == "cuda" and self.session.get_providers()[0] != "CUDAExecutionProvider":
            # ORT quietly falls back to the CPU when the CUDA libraries fail to load.
            raise EngineUnavailable(
                "onnxruntime-cuda: the CUDA provider failed to start (CUDA/cuDNN libraries missing?)"
            )
        outputs = tuple(o.name for o in self.session.get_outputs())
        if info.graph == "warp_frame" and outputs != WARP_OUTPUTS:
            raise EngineError(
                f"{info.path} is a warp frame graph with outputs {list(outputs)}, from an older LiveAvatar; this "
                f"one needs {list(WARP_OUTPUTS)}: export it again (liveavatar export)"
            )
        self.info = info
        self.device = device
        self.image_size = info.image_size
        self.psi_size = info.psi_size
        self.needs_warp = info.graph == "warp_frame"
        self.threads = threads or default_threads()
        suffix = "" if info.precision == "fp32" else f"-{info.precision}"
        self.name = f"onnxruntime-{device}{suffix}"
        self.last_ms = 0.0
        self._binding = (
            self.session.io_binding() if (io_binding if io_binding is not None else device == "cuda") else None
        )
        self._outputs: dict[int, np.ndarray] = {}

    def infer(
        self,
        landmark_images: np.ndarray,
        psi: np.ndarray,
        warp: WarpAvatar | None = None,
        driven: np.ndarray | None = None,
    ) -> np.ndarray:
        if self.needs_warp:
            return self.infer_layers(landmark_images, psi, warp, driven).frames
        psi = check_inputs(self, landmark_images, psi, warp, driven)
        return self._run({"landmarks": np.ascontiguousarray(landmark_images), "psi": psi}, ["frame"])[0]

    def infer_layers(
        self,
        landmark_images: np.ndarray,
        psi: np.ndarray,
        warp: WarpAvatar | None = None,
        driven: np.ndarray | None = None,
    ) -> WarpLayers:
        """A warp frame graph's frames with the layers the full-resolution composite needs (WarpLayers)."""
        psi = check_inputs(self, landmark_images, psi, warp, driven)
        if not self.needs_warp or warp is None or driven is None:
            raise EngineInputError(f"{self.name}: only a warp model's frame graph has layers")
        feeds = {"landmarks": np.ascontiguousarray(landmark_images), "psi": psi, **warp.graph_inputs()}
        feeds["driven"] = np.ascontiguousarray(driven, np.float32)  # N×70×2 crop pixels
        return WarpLayers(*self._run(feeds, list(WARP_OUTPUTS)))

    def _run(self, feeds: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
        start = time.perf_counter()
        outputs = self.session.run(names, feeds) if self._binding is None else self._run_bound(feeds, names)
        self.last_ms = (time.perf_counter() - start) * 1000.0
        return outputs

    def _run_bound(self, feeds: dict[str, np.ndarray], names: list[str]) -> list[np.ndarray]:
        binding = self._binding
        assert binding is not None  # run() calls this only with a binding
        binding.clear_binding_outputs()
        for name, value in feeds.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        if self.device == "cuda":
            for name in names:
                binding.bind_output(name, "cuda")
            self.session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()
        n = len(feeds["landmarks"])
        out = self._outputs.get(n)
        if out is None:
            out = self._outputs[n] = np.empty((n, self.image_size, self.image_size, 3), np.uint8)
        binding.bind_output("frame", "cpu", 0, np.uint8, list(out.shape), out.ctypes.data)
        for name in names[1:]:  # the layers' shapes come from the graph: ORT allocates them
            binding.bind_output(name, "cpu")
        self.session.run_with_iobinding(binding)
        # a copy of the frame: the caller may keep it while the next run overwrites the buffer
        return [out.copy(), *binding.copy_outputs_to_cpu()[1:]]

    def close(self) -> None:
        self._binding = None
        self.session = None
