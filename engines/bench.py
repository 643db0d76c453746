"""`liveavatar bench`: time each engine on the same landmark images and ψ, against PyTorch eager in the same run.

Per engine: median and p90 milliseconds per frame, frames per second, speed relative to the PyTorch eager
fp32 reference on the same device, and the largest difference from the reference's frames (uint8 levels),
so a fast engine that draws something else is visible at once. Also the embedder's time per avatar and the
machine (CPU model, cores, GPU). Engines that cannot run here are listed with the reason.

Without PyTorch (no `train` extra), `run_graph_bench` times the ONNX Runtime engines on the checkpoint's
shipped graphs instead: the same report, with no eager reference (speedup and diff stay unset) and the
torch engines listed as unavailable.

Bench engine names (`--engines`, comma-separated):
  torch                      eager fp32: the reference, always measured first
  torch-cl                   fp32, channels-last
  torch-fp16 / torch-bf16    half precision (norms in fp32), channels-last
  torch-fp16-graph / -bf16-graph   the same captured in a CUDA graph (CUDA only)
  torch-compile              torch.compile: max-autotune in fp16 on CUDA, default mode in fp32 on the CPU
  onnxruntime                the fp32 graph on ONNX Runtime's CPU provider
  onnxruntime-cuda           the fp16 graph on ONNX Runtime's CUDA provider (onnxruntime-gpu)
  tensorrt                   the fp16 graph built by TensorRT
"""

from __future__ import annotations

import re
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from liveavatar.config import ModelConfig
from liveavatar.engines.base import GeneratorEngine
from liveavatar.environment.machine import describe_machine
from liveavatar.errors import LiveAvatarError
from liveavatar.types import WarpAvatar

if TYPE_CHECKING:
    from liveavatar.environment.health import Engines
    from liveavatar.models.talking_head import TalkingHead

REFERENCE = "torch"
# name → TorchOptions fields (precision, channels_last, cuda_graph); the options are built where torch is at hand
TORCH_VARIANTS: dict[str, tuple[str, bool, bool]] = {
    "torch": ("fp32", False, False),
    "torch-cl": ("fp32", True, False),
    "torch-fp16": ("fp16", True, False),
    "torch-bf16": ("bf16", True, False),
    "torch-fp16-graph": ("fp16", True, True),
    "torch-bf16-graph": ("bf16", True, True),
}
ONNX_ENGINES = ("onnxruntime", "onnxruntime-cuda", "tensorrt")
BENCH_ENGINES = (*TORCH_VARIANTS, "torch-compile", *ONNX_ENGINES)
WARMUP_CALLS = 3
MIN_CALLS = 5
NUM_SAMPLES = 8

Say = Callable[[str], None]


@dataclass
class EngineResult:
    engine: str  # bench name, e.g. "torch-fp16-graph"
    status: str  # "ok" | "skipped" | "failed"
    reason: str = ""
    runtime_name: str = ""  # the engine's own name, e.g. "onnxruntime-cpu"
    setup_s: float = 0.0  # export / build / compile / warm-up time
    median_ms: float = 0.0  # per frame
    p90_ms: float = 0.0
    fps: float = 0.0
    speedup: float = 0.0  # reference median / this median
    max_diff: int = -1  # vs the reference's frames, uint8 levels
    mean_diff: float = -1.0
    frames: int = 0  # frames timed (fewer than asked when max_seconds ran out)


@dataclass
class BenchReport:
    preset: str
    device: str
    batch: int
    frames: int
    weights: str  # "random (speed only)" or the checkpoint path and hash
    landmarks: str  # where the landmark images came from
    machine: dict[str, Any]
    embedder_ms_per_portrait: float
    engines: list[EngineResult] = field(default_factory=list)
    # doctor's engine check on this machine (liveavatar.environment.health.check_engines): what can run, why not
    engines_here: Engines = field(kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "engines_here": self.engines_here.as_dict()}  # as doctor --json has it


def _time_engine(
    engine: GeneratorEngine,
    images: np.ndarray,
    psi: np.ndarray,
    frames: int,
    batch: int,
    max_seconds: float | None,
    warp: WarpInputs | None = None,
) -> list[float]:
    """Milliseconds per frame of `frames // batch` calls (fewer, but at least MIN_CALLS, past max_seconds)."""
    per_frame = []
    n = len(images)
    deadline = time.perf_counter() + max_seconds if max_seconds else float("inf")
    for call in range(max(1, frames // batch)):
        if call >= MIN_CALLS and time.perf_counter() > deadline:
            break
        idx = [(call * batch + j) % n for j in range(batch)]
        start = time.perf_counter()
        engine.infer(images[idx], psi[idx], *_warp_args(warp, idx))
        per_frame.append((time.perf_counter() - start) * 1000.0 / batch)
    return per_frame


@dataclass(frozen=True)
class WarpInputs:
    """A warp checkpoint's per-avatar inputs and the driven points each landmark image was drawn from."""

    avatar: WarpAvatar
    points: np.ndarray  # N×70×2 float32 crop pixels (68 landmarks, 2 irises), one row per landmark image


def _warp_args(warp: WarpInputs | None, idx) -> tuple:
    return () if warp is None else (warp.avatar, warp.points[idx])


def _runtime_available(name: str, config: ModelConfig | None = None) -> None:
    """Raises EngineUnavailable with doctor's reason (the engine table's, as health reports it) when a bench
    engine's runtime is missing here (or, given the model's config, the registry's `fits` refuses that model)."""
    from liveavatar.engines.base import EngineUnavailable
    from liveavatar.engines.registry import ENGINE_TABLE, engine_availability

    reason = dict(engine_availability()).get(name)
    entry = ENGINE_TABLE.get(name)
    if entry is not None and config is not None:
        reason = entry.fits(config) or reason
    if reason:
        raise EngineUnavailable(reason)


def engines_here() -> Engines:
    """doctor's engine section for this machine (the report's engines_here)."""
    from liveavatar.engines.registry import engine_availability
    from liveavatar.environment.health import check_engines

    return check_engines(engine_availability())


def format_machine(machine: dict[str, Any], engines: Engines) -> list[str]:
    """The machine and the engines that can run on it, in the words `liveavatar doctor` uses for engines."""
    from liveavatar.environment.health import engine_lines

    m = machine
    return [
        f"machine: {m['cpu']}, {m['cores_available']}/{m['cores']} cores"
        + (f", torch threads {m['torch_threads']}" if m.get("torch_threads") is not None else "")
        + (f", GPU {m['gpu']}" if m.get("gpu") else "")  # known once torch is loaded; the engines say the rest
        + f", load average {m['load_average_1min']}",
        *engine_lines(engines),
    ]


def _make_engine(name: str, model: TalkingHead, sha: str, device: str, workdir: Path, threads: int | None, say: Say):
    """Builds the engine a bench name stands for, or raises EngineUnavailable/LiveAvatarError saying why not."""
    from liveavatar.engines.base import EngineUnavailable
    from liveavatar.engines.torch_engine import TorchEngine, TorchOptions

    generator = model.generator
    if name in TORCH_VARIANTS:
        options = TorchOptions(*TORCH_VARIANTS[name])
        if options.cuda_graph and device != "cuda":
            raise EngineUnavailable("CUDA graphs need a CUDA device")
        if options.precision == "fp16" and device == "cpu":
            raise EngineUnavailable("fp16 convolutions are not a CPU path in PyTorch (use bf16)")
        return TorchEngine(generator, device, options)
    if name == "torch-compile":
        options = (
            TorchOptions("fp16", channels_last=True, compile="max-autotune")
            if device == "cuda"
            else TorchOptions(compile="default")
        )
        return TorchEngine(generator, device, options)
    if name in ("onnxruntime", "onnxruntime-cuda", "tensorrt"):
        from liveavatar.engines.graph_writer import export_generator

        precision = "fp32" if name == "onnxruntime" else "fp16"
        if name != "onnxruntime" and device != "cuda":
            raise EngineUnavailable(f"{name} needs a CUDA device")
        _runtime_available(name)
        path = workdir / f"generator-{precision}.onnx"
        if not path.exists():
            say(f"  exporting the {precision} graph for {name} …")
            export_generator(generator, model.config, path, sha, precision)
        if name == "tensorrt":
            from liveavatar.engines.tensorrt_engine import TensorRTEngine

            return TensorRTEngine(path, "fp16", cache_dir=workdir, say=say)
        from liveavatar.engines.ort_engine import OrtEngine

        return OrtEngine(path, device="cuda" if name == "onnxruntime-cuda" else "cpu", threads=threads)
    raise EngineUnavailable(f"unknown bench engine {name!r}; choose from {', '.join(BENCH_ENGINES)}")


def embedder_ms(model: TalkingHead, crops: np.ndarray, images: np.ndarray, device: str, repeats: int = 5) -> float:
    """Median ms of E + P on one portrait (what building an avatar costs per portrait)."""
    import torch

    from liveavatar.engines.graphs import EmbedderIO

    module = EmbedderIO(model).to(device).eval()
    x = torch.from_numpy(crops[:1]).to(device)
    y = torch.from_numpy(images[:1]).to(device)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            start = time.perf_counter()
            module(x, y).cpu()
            if i:  # the first call pays for allocations
                times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times))


def run_bench(
    config: ModelConfig,
    model: TalkingHead,
    checkpoint_sha256: str,
    weights: str,
    engines: list[str],
    frames: int = 50,
    batch: int = 1,
    device: str = "cpu",
    threads: int | None = None,
    portraits_dir: Path | None = None,
    max_seconds: float | None = None,
    say: Say = print,
) -> BenchReport:
    """Times each engine in `engines` after the eager reference; max_seconds caps each engine's timed loop."""
    import torch

    from liveavatar.engines.graph_writer import frame_difference, psi_for
    from liveavatar.engines.samples import landmark_samples

    if threads:
        torch.set_num_threads(threads)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN time its algorithms once, for every variant
    model = model.eval()
    samples = landmark_samples(config.image_size, NUM_SAMPLES, portraits_dir)
    say(f"landmark images: {samples.source}")
    images = samples.images
    psi = psi_for(model, images, samples.crops)
    crops = samples.crops if samples.crops is not None else images
    model.to(device)
    report = BenchReport(
        preset=config.preset,
        device=device,
        batch=batch,
        frames=frames,
        weights=weights,
        landmarks=samples.source,
        machine=describe_machine(device),
        embedder_ms_per_portrait=embedder_ms(model, crops, images, device),
        engines_here=engines_here(),
    )
    order = [REFERENCE] + [e for e in engines if e != REFERENCE]
    reference_frames = None
    reference_ms = 0.0
    with tempfile.TemporaryDirectory(prefix="liveavatar-bench-") as tmp:
        for name in order:
            result, out = _measure(
                name,
                partial(_make_engine, name, model, checkpoint_sha256, device, Path(tmp), threads, say),
                images,
                psi,
                frames,
                batch,
                max_seconds,
                say,
            )
            if result.status == "ok":
                if name == REFERENCE:
                    reference_frames, reference_ms = out, result.median_ms
                if reference_frames is not None and out is not None:
                    result.max_diff, result.mean_diff = frame_difference(out, reference_frames)
                    result.mean_diff = round(result.mean_diff, 4)
                if reference_ms:
                    result.speedup = round(reference_ms / result.median_ms, 2)
            say(_line(result))
            report.engines.append(result)
            if device == "cuda":
                torch.cuda.empty_cache()
    return report


def _measure(
    name: str,
    make: Callable[[], GeneratorEngine],
    images: np.ndarray,
    psi: np.ndarray,
    frames: int,
    batch: int,
    max_seconds: float | None,
    say: Say,
    warp: WarpInputs | None = None,
) -> tuple[EngineResult, np.ndarray | None]:
    """Builds one engine, renders the parity frames (batch 1 each), warms up and times it."""
    say(f"{name}: preparing …")
    start = time.perf_counter()
    result = EngineResult(name, "ok")
    engine = out = None
    times: list[float] = []
    try:
        engine = make()
        # One frame per call for the parity frames: every engine takes batch 1.
        out = np.concatenate(
            [engine.infer(images[i : i + 1], psi[i : i + 1], *_warp_args(warp, [i])) for i in range(len(images))]
        )
        for _ in range(WARMUP_CALLS):
            engine.infer(images[:batch], psi[:batch], *_warp_args(warp, slice(0, batch)))
        result.setup_s = round(time.perf_counter() - start, 2)
        times = _time_engine(engine, images, psi, frames, batch, max_seconds, warp)
        result.frames = len(times) * batch
    except LiveAvatarError as exc:
        result.status, result.reason = "skipped", str(exc)
    except Exception as exc:  # a runtime's own failure: recorded, the other engines still run
        result.status, result.reason = "failed", _describe(exc)
        say("".join(traceback.format_exception(exc))[-4000:])
    finally:
        if engine is not None:
            result.runtime_name = engine.name
            engine.close()
    if result.status == "ok":
        result.median_ms = round(float(np.median(times)), 3)
        result.p90_ms = round(float(np.percentile(times, 90)), 3)
        result.fps = round(1000.0 / result.median_ms, 1)
    return result, out


def run_graph_bench(
    checkpoint,
    engines: list[str],
    frames: int = 50,
    batch: int = 1,
    device: str = "cpu",
    threads: int | None = None,
    portraits_dir: Path | None = None,
    max_seconds: float | None = None,
    say: Say = print,
) -> BenchReport:
    """The bench without PyTorch: ONNX Runtime on the checkpoint's graphs (shipped for the bundled model),
    ψ from its embedder graph; torch engines are reported as unavailable, and nothing is compared."""
    from liveavatar.engines.base import EngineUnavailable
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.embedder import create_embedder
    from liveavatar.engines.ort_engine import OrtEngine
    from liveavatar.engines.registry import NO_TORCH
    from liveavatar.engines.samples import landmark_samples
    from liveavatar.render.rasterize import rasterize_landmarks

    config = checkpoint.config
    samples = landmark_samples(config.image_size, NUM_SAMPLES, portraits_dir)
    say(f"landmark images: {samples.source}")
    images = samples.images
    crops = samples.crops if samples.crops is not None else images
    warp = None
    if config.warp is not None:  # the first face is the avatar, moved by the scripted performance
        warp = _warp_inputs(config, samples)
        images = np.stack([rasterize_landmarks(p[:68], config.image_size) for p in warp.points])
    embedder = create_embedder(checkpoint)
    try:
        times = []
        for i in range(6):
            start = time.perf_counter()
            psi_one = embedder.psi(crops[:1], images[:1])
            if i:  # the first call pays for allocations
                times.append((time.perf_counter() - start) * 1000.0)
        psi = np.repeat(embedder.psi(crops, images), len(images), axis=0) if samples.real else None
    finally:
        embedder.close()
    if psi is None:
        rng = np.random.default_rng(0)
        psi = (0.1 * rng.standard_normal((len(images), psi_one.shape[1]))).astype(np.float32)
    report = BenchReport(
        preset=config.preset,
        device=device,
        batch=batch,
        frames=frames,
        weights=f"{checkpoint.path} ({checkpoint.sha256[:12]}…), ONNX graphs; no PyTorch reference",
        landmarks=samples.source,
        machine=describe_machine(device),
        embedder_ms_per_portrait=float(np.median(times)),
        engines_here=engines_here(),
    )

    def make(name: str) -> GeneratorEngine:
        if name != "onnxruntime-cuda" or device == "cuda":
            _runtime_available(name, config)
        if name == "onnxruntime":
            return OrtEngine(cached_generator_onnx(checkpoint, None, "fp32", say), threads=threads)
        if name == "onnxruntime-cuda":
            if device != "cuda":
                raise EngineUnavailable("onnxruntime-cuda needs --device cuda")
            precision = "fp16" if config.warp is None else "fp32"  # the warp frame graph is fp32 only
            return OrtEngine(cached_generator_onnx(checkpoint, None, precision, say), device="cuda")
        raise EngineUnavailable(NO_TORCH)  # TensorRT's buffers live in torch CUDA memory; torch engines

    for name in engines:
        result, _ = _measure(name, partial(make, name), images, psi, frames, batch, max_seconds, say, warp)
        say(_line(result))
        report.engines.append(result)
    return report


def _warp_inputs(config: ModelConfig, samples) -> WarpInputs:
    """A warp checkpoint's avatar (the first sample's crop and landmarks) and driven points: its landmarks
    moved as the scripted performance moves (turns, nods, blinks, mouth)."""
    from liveavatar.engines.samples import smooth_texture, synthetic_points
    from liveavatar.landmarks.irises import with_eye_centres
    from liveavatar.models.tps_system import tps_inverse

    size, warp = config.image_size, config.warp
    assert warp is not None  # called for warp presets only
    landmarks = np.asarray(samples.points[0], np.float32)
    motion = synthetic_points(size, len(samples.images))
    texture = samples.crops[0] if samples.crops is not None else smooth_texture(size)
    source = with_eye_centres(landmarks)
    inverse = tps_inverse(source, size, warp.anchors, warp.regularization)
    driven = with_eye_centres(landmarks + motion - motion[0])
    return WarpInputs(WarpAvatar(texture, source, inverse), driven)


def _describe(exc: BaseException) -> str:
    """One line for the report: the exception type and the first non-empty line of its text, no ANSI colour."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first}"[:300]


def _line(r: EngineResult) -> str:
    if r.status != "ok":
        return f"  {r.engine:<18} {r.status}: {r.reason}"
    compared = (
        f"×{r.speedup:<5.2f} vs eager  max diff {r.max_diff} (mean {r.mean_diff:.3f})"
        if r.max_diff >= 0
        else "(no PyTorch reference to compare with)"
    )
    return (
        f"  {r.engine:<18} {r.median_ms:8.2f} ms median  {r.p90_ms:8.2f} p90  {r.fps:7.1f} fps  "
        f"{compared}  [setup {r.setup_s:.1f} s]"
    )


def format_report(report: BenchReport) -> str:
    m = report.machine
    lines = [
        f"preset {report.preset} on {report.device}, batch {report.batch}, {report.frames} frames",
        f"weights: {report.weights}",
        *format_machine(m, report.engines_here),
        f"landmark images: {report.landmarks}",
        f"embedder (E + P): {report.embedder_ms_per_portrait:.1f} ms per portrait",
        "ms are per frame; speed is relative to PyTorch eager fp32 on the same device in this run; "
        "diff is the largest difference from its frames in uint8 levels",
    ]
    lines += [_line(r) for r in report.engines]
    load, cores = m.get("load_average_1min"), m.get("cores_available") or 1
    if load is not None and load > 0.5 * cores:
        lines.append(
            f"note: load average {load} on {cores} cores: other processes were running, so these timings are "
            "pessimistic; PyTorch's OpenMP threads suffer most (a descheduled thread stalls every parallel region)"
        )
    return "\n".join(lines)
