"""`liveavatar demo`: render a driven portrait to a side-by-side video, no webcam or display needed.

Left half: the driver's landmark image (what the generator sees); right half: the generated avatar.
Defaults need nothing from the user: the portrait is the public-domain photo of Grace Hopper that
matplotlib ships as sample data, the driver is the built-in scripted performance on that portrait's own
landmarks. Without a trained checkpoint the demo refuses: random weights are never shown as a result.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from liveavatar.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="render a portrait driven by a scripted performance (or a video) to a file"
    )
    p.add_argument("--portrait", type=Path, help="portrait image (default: Grace Hopper, from matplotlib)")
    p.add_argument("--driver", type=Path, help="driving video (default: the built-in scripted performance)")
    p.add_argument("--frames", type=int, default=200, help="number of frames to render (default 200)")
    p.add_argument("--out", type=Path, default=Path("demo.mp4"), help="output video (default demo.mp4)")
    p.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the bundled model)")
    p.add_argument("--engine", default="auto", help="generator engine (default auto: the fastest available)")
    p.set_defaults(handler=run)


def default_portrait() -> Path:
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def run(args: argparse.Namespace) -> int:
    from liveavatar.models.checkpoint import load_checkpoint, resolve_checkpoint

    if args.frames < 1:
        raise InputError(f"--frames must be at least 1, got {args.frames}")
    if not args.out.parent.is_dir():
        raise InputError(f"{args.out}: folder {args.out.parent} does not exist")
    checkpoint = load_checkpoint(resolve_checkpoint(args.checkpoint), discriminator=False)
    print(
        render_demo(
            checkpoint, args.portrait or default_portrait(), args.driver, args.frames, args.out, args.engine
        )
    )
    return 0


def _driver_landmarks(avatar, driver: Path | None, frames: int):
    """Yields 68 driver points per frame, in the avatar portrait's crop pixels."""
    from liveavatar.landmarks.scripted import ScriptedPerformance
    from liveavatar.types import FaceLandmarks

    if driver is None:
        size = avatar.crop.shape[0]
        performance = ScriptedPerformance(FaceLandmarks(avatar.landmarks, (size, size)))
        for i in range(frames):
            yield performance.frame(i).points68
        return
    import cv2

    from liveavatar.landmarks.tracker import FaceTracker
    from liveavatar.render.align import face_crop

    capture = cv2.VideoCapture(str(driver))
    if not capture.isOpened():
        raise InputError(f"{driver}: cannot open as a video")
    with FaceTracker("video") as tracker:
        last = None
        for _ in range(frames):
            ok, bgr = capture.read()
            if not ok:
                break
            result = tracker.track(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if result.landmarks is not None:
                points = result.landmarks.points68
                last = face_crop(points, avatar.crop.shape[0]).points_to_crop(points)
            if last is not None:
                yield last
    capture.release()


def render_demo(checkpoint, portrait: Path, driver: Path | None, frames: int, out: Path, engine: str) -> str:
    import cv2

    from liveavatar.avatar import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.render.rasterize import rasterize_landmarks

    avatar = build_avatar([portrait], checkpoint)
    choice = create_engine(engine, checkpoint)
    size = checkpoint.config.image_size
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (2 * size, size))
    if not writer.isOpened():
        raise InputError(f"{out}: cannot write an MP4 file there")
    psi = avatar.psi[None].astype(np.float32)
    raster_s, engine_s, count = [], [], 0
    start = time.perf_counter()
    try:
        for points in _driver_landmarks(avatar, driver, frames):
            t0 = time.perf_counter()
            landmark_image = rasterize_landmarks(points, size)
            t1 = time.perf_counter()
            face = choice.engine.infer(landmark_image[None], psi)[0]
            t2 = time.perf_counter()
            writer.write(cv2.cvtColor(np.hstack([landmark_image, face]), cv2.COLOR_RGB2BGR))
            raster_s.append(t1 - t0)
            engine_s.append(t2 - t1)
            count += 1
    finally:
        writer.release()
        choice.engine.close()
    if count == 0:
        raise InputError(f"{driver}: no face found in any frame of the driving video")
    fps = count / (time.perf_counter() - start)
    return (
        f"demo: {count} frames → {out} | rasterize {median_ms(raster_s):.2f} ms, "
        f"generator ({choice.engine.name}) {median_ms(engine_s):.1f} ms median | {fps:.1f} fps overall"
    )


def median_ms(samples: list[float]) -> float:
    return float(np.median(samples)) * 1000.0 if samples else 0.0
