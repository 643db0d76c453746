"""THE ONNX export (`liveavatar export`, tools/export_onnx.py, tools/export_bundled_graphs.py): a checkpoint's
graphs, written by engines.graph_writer and checked against PyTorch before success.

Parity is measured on real landmark images (mediapipe on the shared portraits → face_crop → the one
rasterizer; synthetic ones from a real face's geometry when mediapipe or the portraits are missing) with the
ψ the embedder computes from the same faces:
  generator fp32 (ONNX Runtime)  vs PyTorch eager fp32: uint8 levels, at most FP32_MAX_LEVELS
  embedder (ONNX Runtime)        vs PyTorch: ψ max abs difference relative to ψ's scale
  generator fp16 (ONNX Runtime)  vs PyTorch fp32: mean uint8 levels, at most FP16_MAX_MEAN_LEVELS
A `warp` checkpoint exports its whole frame graph instead of G (warp_frame.onnx, fp32 only: engines.warp_graph),
checked the same way as fp32 G: the first real face's crop is the texture, driven through the scripted
performance's motion (turns, nods, blinks, mouth), one frame per call as live.
A graph that fails is deleted, so no unchecked file is left behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from liveavatar.engines.base import EngineError
from liveavatar.engines.graph_writer import (
    export_embedder,
    export_generator,
    frame_difference,
    psi_for,
    reference_frames,
)
from liveavatar.engines.samples import landmark_samples

FP32_MAX_LEVELS = 2  # rounding of values that land within float error of a .5 boundary: 1 level measured
FP16_MAX_MEAN_LEVELS = 2.0
EMBEDDER_MAX_RELATIVE = 1e-4
PARITY_SAMPLES = 4


@dataclass
class ExportReport:
    files: list[Path] = field(default_factory=list)
    landmarks: str = ""
    checks: list[str] = field(default_factory=list)  # one line per parity check, with its numbers
    generator_max_levels: int = -1
    generator_mean_levels: float = -1.0
    embedder_max_abs: float = -1.0
    fp16_max_levels: int = -1
    fp16_mean_levels: float = -1.0
    seconds: float = 0.0


def export_checkpoint(
    checkpoint,
    out_dir: Path,
    fp16: bool = False,
    embedder: bool = True,
    portraits_dir: Path | None = None,
    say=print,
) -> ExportReport:
    """Exports generator.onnx (+ generator-fp16.onnx, embedder.onnx) to out_dir and checks them; for a `warp`
    checkpoint warp_frame.onnx (+ embedder.onnx), and `fp16` is said to be skipped."""
    from liveavatar.engines.ort_engine import OrtEngine

    start = time.perf_counter()
    model = checkpoint.model.eval()
    config = checkpoint.config
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ExportReport()
    samples = landmark_samples(config.image_size, PARITY_SAMPLES, portraits_dir)
    report.landmarks = samples.source
    say(f"parity inputs: {samples.source}")
    psi = psi_for(model, samples.images, samples.crops)
    # G alone cannot run a warp preset's frame (it needs the warped texture): its graph is checked whole.
    expected = reference_frames(model.generator, samples.images, psi) if config.warp is None else None
    written: list[Path] = []

    def export_and_compare(file_name: str, precision: str) -> tuple[int, float]:
        """Exports one generator graph and returns its frames' (max, mean) difference from PyTorch fp32."""
        path = export_generator(model.generator, config, out_dir / file_name, checkpoint.sha256, precision)
        written.append(path)
        assert expected is not None  # only the paper's presets export G alone
        return frame_difference(_run(OrtEngine(path), samples.images, psi), expected)

    try:
        if config.warp is not None:
            say(f"exporting the frame graph ({config.preset}: warp, G, composite; fp32) …")
            path = out_dir / "warp_frame.onnx"
            written.append(path)
            worst, mean = _export_warp_frame(checkpoint, samples, psi[:1], path)
            kind = "warp frame"
            if fp16:
                say("no fp16 graph for warp presets: their frame graph is exported in fp32 only")
                fp16 = False
        else:
            say(f"exporting the generator ({config.preset}, fp32) …")
            worst, mean = export_and_compare("generator.onnx", "fp32")
            kind = "generator"
        report.generator_max_levels, report.generator_mean_levels = worst, mean
        report.checks.append(f"{kind} fp32, ONNX Runtime vs PyTorch: max abs diff {worst} levels (mean {mean:.4f})")
        say(report.checks[-1])
        if worst > FP32_MAX_LEVELS:
            raise EngineError(f"exported {kind} differs from PyTorch by {worst} levels (limit {FP32_MAX_LEVELS})")
        if embedder:
            say("exporting the embedder + projection …")
            path = export_embedder(model, out_dir / "embedder.onnx", checkpoint.sha256)
            written.append(path)
            report.embedder_max_abs = _embedder_difference(path, model, samples)
            scale = float(np.abs(psi).max()) + 1e-6
            report.checks.append(
                f"embedder, ONNX Runtime vs PyTorch: ψ max abs diff {report.embedder_max_abs:.2e} (ψ max {scale:.3g})"
            )
            say(report.checks[-1])
            if report.embedder_max_abs > EMBEDDER_MAX_RELATIVE * max(scale, 1.0):
                raise EngineError(f"exported embedder differs from PyTorch by {report.embedder_max_abs:.3g} in ψ")
        if fp16:
            say("exporting the fp16 generator (norm statistics in fp32) …")
            worst, mean = export_and_compare("generator-fp16.onnx", "fp16")
            report.fp16_max_levels, report.fp16_mean_levels = worst, mean
            report.checks.append(f"generator fp16 vs PyTorch fp32: max abs diff {worst} levels (mean {mean:.4f})")
            say(report.checks[-1])
            if mean > FP16_MAX_MEAN_LEVELS:
                raise EngineError(
                    f"fp16 generator is off by {mean:.2f} levels on average (limit {FP16_MAX_MEAN_LEVELS})"
                )
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    report.files = written
    report.seconds = time.perf_counter() - start
    return report


def _export_warp_frame(checkpoint, samples, psi: np.ndarray, path: Path) -> tuple[int, float]:
    """Writes a warp checkpoint's frame graph and returns its frames' (max, mean) difference from PyTorch."""
    from liveavatar.engines.samples import smooth_texture, synthetic_points
    from liveavatar.engines.warp_graph import export_warp_frame, warp_frame_difference

    model = checkpoint.model
    size = checkpoint.config.image_size
    export_warp_frame(model, samples.points[0], path, checkpoint.sha256)
    motion = synthetic_points(size, PARITY_SAMPLES)
    driven = samples.points[0] + (motion - motion[0])  # the first face, moved as the scripted performance moves
    texture = samples.crops[0] if samples.crops is not None else smooth_texture(size)
    return warp_frame_difference(path, model, driven, texture, psi)


def _run(engine, images: np.ndarray, psi: np.ndarray) -> np.ndarray:
    try:
        return np.concatenate([engine.infer(images[i : i + 1], psi[i : i + 1]) for i in range(len(images))])
    finally:
        engine.close()


def _embedder_difference(path: Path, model, samples) -> float:
    """ψ from the embedder graph vs PyTorch's on the same faces (synthetic samples: landmark images as faces)."""
    import onnxruntime as ort

    from liveavatar.engines.graphs import EmbedderIO
    from liveavatar.engines.ort_engine import session_options

    crops = samples.crops if samples.crops is not None else samples.images
    session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    psi = session.run(["psi"], {"portraits": crops, "landmarks": samples.images})[0]
    with torch.inference_mode():
        expected = EmbedderIO(model).eval()(torch.from_numpy(crops), torch.from_numpy(samples.images)).numpy()
    return float(np.abs(psi - expected).max())
