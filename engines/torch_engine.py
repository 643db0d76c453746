"""PyTorch engine: the reference every other engine is checked against, and its fast CUDA variants.

The reference is eager fp32 (`TorchOptions()`), on the CPU or CUDA. On CUDA, the variants that matter
for a 1-frame-at-a-time live path, where kernel launches rather than FLOPs set the time:
  precision fp16/bf16  every layer but instance norm (kept fp32, see engines.graphs) in half precision;
  channels_last        NHWC activations, what tensor-core convolutions want (the uint8 input already is);
  cuda_graph           capture the whole forward once per batch size and replay it: one launch per frame;
  compile              torch.compile with the given mode (e.g. "max-autotune", which also uses CUDA graphs).
The uint8 → float conversion and the rounding back run on the device, inside the captured graph.

TorchWarpEngine is the reference for `warp` checkpoints: their whole frame (spline warp, grid_sample, G,
composite: models.warp_head.render_frame, wrapped by engines.warp_graph.WarpFrameIO), eager fp32.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from liveavatar.engines.base import EngineUnavailable, check_inputs
from liveavatar.engines.graphs import GeneratorIO, reduced_precision
from liveavatar.models.generator import Generator
from liveavatar.types import WarpAvatar, WarpLayers

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class TorchOptions:
    precision: str = "fp32"  # "fp32" | "fp16" | "bf16"
    channels_last: bool = False
    cuda_graph: bool = False
    compile: str | None = None  # torch.compile mode, e.g. "max-autotune"; None: eager

    def suffix(self) -> str:
        parts = [] if self.precision == "fp32" else [self.precision]
        parts += ["cl"] if self.channels_last else []
        parts += ["graph"] if self.cuda_graph else []
        parts += [f"compile-{self.compile}"] if self.compile else []
        return "".join(f"-{p}" for p in parts)


# The variant `auto` picks on CUDA: measured fastest without compile time (docs/PERFORMANCE.md).
CUDA_DEFAULT = TorchOptions(precision="fp16", channels_last=True, cuda_graph=True)


class TorchEngine:
    def __init__(self, generator: Generator, device: str = "cpu", options: TorchOptions | None = None):
        options = options or TorchOptions()
        if options.precision not in DTYPES:
            raise ValueError(f"precision must be one of {', '.join(DTYPES)}, got {options.precision!r}")
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise EngineUnavailable("torch-cuda: this PyTorch build sees no CUDA GPU")
        if options.cuda_graph and (self.device.type != "cuda" or options.compile):
            raise ValueError(
                "cuda_graph needs a CUDA device and no torch.compile (whose max-autotune mode has its own)"
            )
        dtype = DTYPES[options.precision]
        generator = generator.eval()
        if dtype != torch.float32:
            generator = reduced_precision(generator, dtype)
        elif next(generator.parameters()).device != self.device:
            generator = copy.deepcopy(generator)  # moving the caller's module (a checkpoint's) is not ours to do
        generator = generator.to(self.device)
        if options.channels_last:
            generator = generator.to(memory_format=torch.channels_last)
        self.options = options
        self.module = GeneratorIO(generator, dtype).eval()
        self._forward = torch.compile(self.module, mode=options.compile) if options.compile else self.module
        self.image_size = generator.image_size
        self.psi_size = generator.layout.size
        self.name = f"torch-{self.device.type}{options.suffix()}"
        self.needs_warp = False
        self.last_ms = 0.0
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def infer(
        self,
        landmark_images: np.ndarray,
        psi: np.ndarray,
        warp: WarpAvatar | None = None,
        driven: np.ndarray | None = None,
    ) -> np.ndarray:
        psi = check_inputs(self, landmark_images, psi, warp, driven)
        start = time.perf_counter()
        with torch.inference_mode():
            images = torch.from_numpy(np.ascontiguousarray(landmark_images))
            psi_t = torch.from_numpy(psi)
            if self.options.cuda_graph:
                frames = self._replay(images, psi_t)
            else:
                frames = self._forward(images.to(self.device), psi_t.to(self.device))
            out = frames.cpu().numpy()  # synchronises with the device
        self.last_ms = (time.perf_counter() - start) * 1000.0
        return out

    def _replay(self, images: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        n = images.shape[0]
        if n not in self._graphs:
            self._graphs[n] = self._capture(n)
        graph, static_images, static_psi, static_out = self._graphs[n]
        static_images.copy_(images, non_blocking=True)
        static_psi.copy_(psi, non_blocking=True)
        graph.replay()
        return static_out

    def _capture(self, n: int):
        """Captures one forward at batch n; static buffers are overwritten by each replay."""
        s = self.image_size
        static_images = torch.zeros(n, s, s, 3, dtype=torch.uint8, device=self.device)
        static_psi = torch.zeros(n, self.psi_size, device=self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up outside the capture: cuDNN picks its algorithms here
            for _ in range(3):
                self.module(static_images, static_psi)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.module(static_images, static_psi)
        return graph, static_images, static_psi, static_out

    def close(self) -> None:
        self._graphs.clear()
        self.module = None
        self._forward = None


class TorchWarpEngine:
    """A `warp` checkpoint's frame in PyTorch eager fp32, on the CPU or CUDA.

    model: the checkpoint's TalkingHead (its warp and G); generator: a fine-tuned avatar's G instead of the
    model's. The caller's modules are copied before moving to another device, never moved.
    """

    def __init__(self, model, device: str = "cpu", generator: Generator | None = None):
        from liveavatar.engines.warp_graph import WarpFrameIO

        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise EngineUnavailable("torch-cuda: this PyTorch build sees no CUDA GPU")
        module = WarpFrameIO(model, generator).eval()
        if next(module.parameters()).device != self.device:
            module = copy.deepcopy(module)
        self.module = module.to(self.device)
        self.image_size = model.config.image_size
        self.psi_size = module.generator.layout.size
        self.name = f"torch-{self.device.type}"
        self.needs_warp = True
        self.last_ms = 0.0

    def infer(
        self,
        landmark_images: np.ndarray,
        psi: np.ndarray,
        warp: WarpAvatar | None = None,
        driven: np.ndarray | None = None,
    ) -> np.ndarray:
        return self.infer_layers(landmark_images, psi, warp, driven).frames

    def infer_layers(
        self,
        landmark_images: np.ndarray,
        psi: np.ndarray,
        warp: WarpAvatar | None = None,
        driven: np.ndarray | None = None,
    ) -> WarpLayers:
        psi = check_inputs(self, landmark_images, psi, warp, driven)
        assert warp is not None and driven is not None  # check_inputs: a warp engine gets both

        def tensor(array: np.ndarray, dtype=None) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array, dtype)).to(self.device)

        start = time.perf_counter()
        with torch.inference_mode():
            outputs = self.module(
                tensor(landmark_images),  # N×S×S×3 uint8 RGB
                tensor(psi),  # N×L
                tensor(warp.texture)[None],  # 1×S×S×3 uint8 RGB
                tensor(warp.source, np.float32)[None],  # 1×70×2 crop pixels (68 landmarks, 2 irises)
                tensor(warp.inverse, np.float32)[None],  # 1×n×n
                tensor(driven, np.float32),  # N×70×2 crop pixels
            )
            layers = WarpLayers(*(o.cpu().numpy() for o in outputs))  # synchronises with the device
        self.last_ms = (time.perf_counter() - start) * 1000.0
        return layers

    def close(self) -> None:
        self.module = None
