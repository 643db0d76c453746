"""`liveavatar bench --preset warp`: the warp preset's frame graph on ONNX Runtime beside lite's generator, and
the output frame's composition (the crop scaled up as before, and at full resolution), side by side.

Apart from engines/warp_graph.py, which defines and exports the graph: a benchmark is not part of the export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liveavatar.engines.warp_graph import export_warp_frame
from liveavatar.models.talking_head import TalkingHead
from liveavatar.types import WarpAvatar, WarpLayers


def bench_warp(
    model: TalkingHead,
    frames: int,
    threads: int,
    say,
    lite: TalkingHead | None = None,
    max_seconds: float | None = None,
) -> dict:
    """ms per frame (batch 1, as live) of the warp preset's whole frame graph on ONNX Runtime's CPU provider,
    and, side by side in the same run and threads, of `lite`'s generator graph; the landmarks are Grace
    Hopper's (the photo matplotlib ships), driven by a small head and mouth motion."""
    import tempfile
    import time

    import matplotlib.cbook

    from liveavatar.avatar import prepare_portrait
    from liveavatar.engines.graph_writer import export_generator
    from liveavatar.engines.ort_engine import OrtEngine, session_options
    from liveavatar.render.rasterize import rasterize_landmarks

    size = model.config.image_size
    portrait = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    image, crop_tf, crop, points, _ = prepare_portrait(portrait, size)
    w = model.config.warp
    assert w is not None, "bench_warp needs a warp preset"
    from liveavatar.landmarks.irises import with_eye_centres
    from liveavatar.models.tps_system import tps_inverse

    inverse = tps_inverse(with_eye_centres(points), size, w.anchors, w.regularization)
    motion = [points + np.array([np.sin(i / 5) * 3, 0], np.float32) for i in range(16)]
    for i, d in enumerate(motion):
        d[[56, 57, 58, 65, 66, 67], 1] += 4 * (1 + np.sin(i / 3))
    marks = np.stack([rasterize_landmarks(d, size) for d in motion])
    driven = with_eye_centres(np.stack(motion))  # N×70×2: the irises at the eyes' centres

    def timed(call) -> list[float]:
        call(0)  # warm-up: first runs allocate
        out, deadline = [], time.perf_counter() + (max_seconds or float("inf"))
        for i in range(frames):
            if i >= 5 and time.perf_counter() > deadline:
                break
            start = time.perf_counter()
            call(i % len(marks))
            out.append((time.perf_counter() - start) * 1000)
        return out

    def row(name: str, ms: list[float]) -> dict:
        median = float(np.median(ms))
        return {
            "graph": name,
            "frames": len(ms),
            "median_ms": median,
            "p90_ms": float(np.percentile(ms, 90)),
            "fps": 1000 / median,
        }

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        say(f"exporting the {model.config.preset} frame graph")
        path = export_warp_frame(model, points, Path(tmp) / "warp_frame.onnx")
        engine = OrtEngine(path, threads=threads)  # the live engine, with the options lite's G gets below
        avatar = WarpAvatar(crop, with_eye_centres(points), inverse)
        warp_psi = np.zeros((1, model.psi_size), np.float32)
        rows.append(
            row(
                f"{model.config.preset} (warp + G + composite)",
                timed(lambda i: engine.infer(marks[i : i + 1], warp_psi, avatar, driven[i : i + 1])),
            )
        )
        say("composing output frames")
        layers = [engine.infer_layers(marks[i : i + 1], warp_psi, avatar, driven[i : i + 1]) for i in range(len(marks))]
        for width, height in ((1280, 720), (1920, 1080)):
            for name, ms in compose_timings(image, crop_tf.matrix, layers, width, height, timed).items():
                rows.append(row(f"compose {width}x{height}: {name}", ms))
        if lite is not None:
            import onnxruntime as ort

            say(f"exporting the {lite.config.preset} generator graph")
            g_path = export_generator(lite.generator, lite.config, Path(tmp) / "lite.onnx", "bench")
            g = ort.InferenceSession(str(g_path), session_options(threads), providers=["CPUExecutionProvider"])
            psi = np.zeros((1, lite.psi_size), np.float32)
            lite_marks = np.stack(
                [rasterize_landmarks(d * lite.config.image_size / size, lite.config.image_size) for d in motion]
            )
            rows.append(
                row(
                    f"{lite.config.preset} (G)",
                    timed(lambda i: g.run(None, {"landmarks": lite_marks[i : i + 1], "psi": psi})),
                )
            )
    return {"engine": "onnxruntime (CPU)", "threads": threads, "rows": rows}


def compose_timings(portrait, crop_matrix, layers: list[WarpLayers], width: int, height: int, timed) -> dict:
    """ms per output frame of the Composer (the AI mark and mirror off), side by side: the crop's composite
    scaled back into the frame as before, and the full-resolution portrait moved by the layers."""
    from liveavatar.avatar import Avatar
    from liveavatar.live.spec import Background
    from liveavatar.pipeline.stages import Composer

    face = layers[0].frames[0]
    avatar = Avatar(
        "bench",
        np.zeros(1, np.float32),
        "warp",
        "",
        face,
        np.zeros((68, 2), np.float32),
        portrait,
        np.asarray(crop_matrix, np.float64),
        face[::2, ::2],
    )
    composer, still = Composer(width, height), Background()
    return {
        "crop scaled up (before)": timed(lambda i: composer.compose(layers[i].frames[0], avatar, still, False, False)),
        "full resolution": timed(
            lambda i: composer.compose(layers[i].frames[0], avatar, still, False, False, layers[i])
        ),
    }


def format_warp_bench(report: dict) -> str:
    lines = [
        f"ONNX Runtime CPU, {report['threads']} threads, batch 1",
        f"{'graph':<46} {'median ms':>9} {'p90 ms':>7} {'fps':>6}",
    ]
    for r in report["rows"]:
        lines.append(f"{r['graph']:<46} {r['median_ms']:>9.1f} {r['p90_ms']:>7.1f} {r['fps']:>6.1f}")
    return "\n".join(lines)
