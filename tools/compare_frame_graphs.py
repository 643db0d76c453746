"""Two `warp` frame graphs side by side on ONNX Runtime's CPU provider: ms per frame, batch 1, as live.

    python tools/compare_frame_graphs.py BEFORE/warp_frame.onnx liveavatar/assets/warp-onnx/warp_frame.onnx

Each graph is driven by Grace Hopper's face (the photo matplotlib ships) through the scripted performance,
with as many control points as its `source` input takes (68 landmarks before issue 21; 70 after: the irises
at the eyes' centres, moved with them). The two run interleaved, one frame of each in turn, so a shared
machine's load falls on both alike; the report gives each one's median and p90 and the ratio of medians.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def control_points(graph: Path) -> int:
    """How many control points the graph's `source` input (1×P×2) takes."""
    import onnx

    model = onnx.load(str(graph), load_external_data=False)
    source = next(i for i in model.graph.input if i.name == "source")
    return source.type.tensor_type.shape.dim[1].dim_value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graphs", type=Path, nargs=2, help="two warp_frame.onnx files: before, after")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()

    import time

    import matplotlib.cbook

    from liveavatar.avatar import prepare_portrait
    from liveavatar.engines.base import WARP_OUTPUTS
    from liveavatar.engines.ort_engine import OrtEngine
    from liveavatar.engines.samples import synthetic_points
    from liveavatar.landmarks.irises import with_eye_centres
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.models.tps_system import tps_inverse
    from liveavatar.render.rasterize import rasterize_landmarks
    from liveavatar.types import WarpAvatar

    config = open_checkpoint(resolve_checkpoint(None)).config
    size, w = config.image_size, config.warp
    assert w is not None, "the bundled model is not a warp preset"
    portrait = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    _, _, crop, points, _ = prepare_portrait(portrait, size)
    motion = synthetic_points(size, 32)
    landmarks = (points + motion - motion[0]).astype(np.float32)  # N×68×2: the portrait, moved
    marks = np.stack([rasterize_landmarks(p, size) for p in landmarks])
    runs = []
    for graph in args.graphs:
        engine = OrtEngine(graph, threads=args.threads)
        count = control_points(graph)
        driven = landmarks if count == 68 else with_eye_centres(landmarks)  # N×P×2
        source = driven[0] if count == 68 else with_eye_centres(points)
        avatar = WarpAvatar(
            crop, np.asarray(source, np.float32), tps_inverse(source, size, w.anchors, w.regularization)
        )
        psi = np.zeros((1, engine.psi_size), np.float32)
        runs.append((engine, avatar, driven, psi, count))

    times: list[list[float]] = [[], []]
    for i in range(args.frames + 3):
        k = i % len(marks)
        for j, (engine, avatar, driven, psi, _) in enumerate(runs):
            start = time.perf_counter()
            # the engine's own run (session, threads, binding as live), past its input check: that check is
            # this checkout's (70 points) and the graph before issue 21 takes 68
            feeds = {"landmarks": marks[k : k + 1], "psi": psi, **avatar.graph_inputs(), "driven": driven[k : k + 1]}
            engine._run(feeds, list(WARP_OUTPUTS))
            if i >= 3:  # the first runs allocate
                times[j].append((time.perf_counter() - start) * 1000)
    report = {
        "threads": args.threads,
        "frames": args.frames,
        "graphs": [
            {
                "path": str(graph),
                "control_points": run[4],
                "median_ms": float(np.median(t)),
                "p90_ms": float(np.percentile(t, 90)),
            }
            for graph, run, t in zip(args.graphs, runs, times, strict=True)
        ],
    }
    report["ratio_of_medians"] = report["graphs"][1]["median_ms"] / report["graphs"][0]["median_ms"]
    for engine, *_ in runs:
        engine.close()
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
