"""What drawing the irises where the driven ones are (liveavatar/render/eyeballs.py) costs the compose step.

    python tools/compare_eye_compose.py --out docs/perf/gaze/eyeballs-compose.json [PORTRAIT ...]

Per portrait (names in ../shared/data/portraits; default the Mona Lisa, Audrey Hepburn, Barack Obama): the
glances clip (its gaze moves) drives the bundled model through the Processor and the frame graph on ONNX
Runtime once; then one 1280×720 Composer composes every frame twice, interleaved, with the driven irises
(the eyeballs drawn) and without (the spline's eyes), three passes. Medians of the compose call, ms.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLIP = "hellomeme_tiktok_young_woman_glances.mp4"
PORTRAITS = ("painting_mona_lisa.jpg", "photo_audrey_hepburn.jpg", "photo_barack_obama.jpg")
FRAMES, PASSES = 80, 3


def compare(name: str, checkpoint, engine) -> dict:
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.live.spec import Background, TrackingConfig
    from liveavatar.pipeline.stages import Composer, Processor

    avatar = build_avatar([DATA / "portraits" / name], checkpoint)
    warp, psi = warp_avatar_of(avatar, checkpoint), avatar.psi[None].astype(np.float32)
    capture, processor = cv2.VideoCapture(str(DATA / "driving" / CLIP)), Processor(TrackingConfig(), 256)
    work = []
    for i in range(FRAMES):
        ok, frame = capture.read()
        if not ok:
            break
        driven, _ = processor.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), None, i / 30, avatar, "relative")
        work.append((driven, engine.infer_layers(driven.landmark_image[None], psi, warp, driven.control[None])))
    processor.close()
    composer = Composer(1280, 720)
    times: dict[str, list[float]] = {"eyes": [], "no-eyes": []}
    for _ in range(PASSES):
        for driven, layers in work:
            for variant in times:
                irises = driven.control[68:] if variant == "eyes" else None
                start = time.perf_counter()
                composer.compose(
                    layers.frames[0], avatar, Background(), False, False, layers, None, driven.points, irises
                )
                times[variant].append(time.perf_counter() - start)
    medians = {k: float(np.median(v) * 1e3) for k, v in times.items()}
    return {
        "compose_median_ms": medians,
        "extra_ms": medians["eyes"] - medians["no-eyes"],
        "frames": len(times["eyes"]),
    }


def main() -> int:
    from liveavatar.engines.registry import create_engine
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("portraits", nargs="*", default=list(PORTRAITS))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    checkpoint = open_checkpoint(resolve_checkpoint(None))
    engine = create_engine("onnxruntime", checkpoint).engine
    report = {}
    for name in args.portraits:
        report[name] = compare(name, checkpoint, engine)
        ms = report[name]["compose_median_ms"]
        print(f"{name}: {ms['no-eyes']:.2f} → {ms['eyes']:.2f} ms (+{report[name]['extra_ms']:.2f})")
    engine.close()
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
