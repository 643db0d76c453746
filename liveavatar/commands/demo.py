"""`liveavatar demo`: a driven portrait rendered to a side-by-side video, no webcam or display needed.

Left: the driver's landmark image (exactly what the generator was given); right: what `liveavatar run`
and the app send out (the portrait with its generated face pasted back, the AI mark in the corner). A
thin use of the live runner; the side-by-side frames go through the same recorder as `--sink record:`,
so the MP4 is tagged as generated. The driver is the built-in scripted performance on the portrait's own
landmarks, or a driving video retargeted onto the portrait; every frame is rendered (an offline run) and
shown in a preview window when a display exists. The default portrait is the public-domain photo of
Grace Hopper that matplotlib ships as sample data. Without a trained checkpoint the demo refuses:
random weights are never shown as a result.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from liveavatar.commands.argnumbers import count
from liveavatar.errors import InputError

DEMO_HEIGHT = 720


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="render a portrait driven by a scripted performance (or a video) to a file")
    p.add_argument("--portrait", type=Path, help="portrait image (default: Grace Hopper, from matplotlib)")
    p.add_argument("--driver", type=Path, help="driving video (default: the built-in scripted performance)")
    p.add_argument("--frames", type=count(1, 1_000_000), default=200, help="number of frames to render (default 200)")
    p.add_argument("-o", "--out", type=Path, default=Path("demo.mp4"), help="output video (default demo.mp4)")
    p.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the bundled model)")
    p.add_argument("--engine", default="auto", help="generator engine (default auto: the fastest available)")
    p.set_defaults(handler=run)


def default_portrait() -> Path:
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def run(args: argparse.Namespace) -> int:
    from liveavatar.environment.stopsignals import stop_signals_as_interrupt
    from liveavatar.files.checks import require_file
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.sinks.record import check_destination

    if args.frames < 1:
        raise InputError(f"--frames must be at least 1, got {args.frames}")
    check_destination(args.out, "--out")
    if args.driver is not None:
        require_file(args.driver, "driving video", "give a video file with a face in it")
    with stop_signals_as_interrupt():
        checkpoint = open_checkpoint(resolve_checkpoint(args.checkpoint))
        portrait = args.portrait or default_portrait()
        print(render_demo(checkpoint, portrait, args.driver, args.frames, args.out, args.engine))
    return 0


def output_size(portrait_shape: tuple[int, ...], height: int = DEMO_HEIGHT) -> tuple[int, int]:
    """The portrait's aspect at `height` px, in even sizes (MP4 encoders need them)."""
    ph, pw = portrait_shape[:2]
    width = max(16, round(height * pw / ph / 2) * 2)
    return min(width, 2 * height), height


def render_demo(checkpoint, portrait: Path, driver: Path | None, frames: int, out: Path, engine: str) -> str:
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.pipeline import CollectingObserver, Runner, RunnerConfig, SinkSpec, parse_source
    from liveavatar.sinks.base import fit_frame
    from liveavatar.sinks.preview import display_available
    from liveavatar.sinks.record import RecordSink
    from liveavatar.types import Frame

    avatar = build_avatar([portrait], checkpoint)
    if driver is None:
        source = parse_source("scripted", realtime=False, loop=True)
    else:
        source = parse_source(str(driver), realtime=False)
    sinks = [SinkSpec("preview")] if display_available() else []
    width, height = output_size(avatar.portrait.shape)
    fps = source.fps or 25.0
    if driver is not None:
        import cv2

        capture = cv2.VideoCapture(str(driver))
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        capture.release()
    recorder = RecordSink(
        out, width + height, height, fps, report=lambda state: None, lossless=True, model_sha256=checkpoint.sha256
    )
    recorder.open()

    class Observer(CollectingObserver):
        faces_seen = 0

        def on_frame(self, report) -> None:
            super().on_frame(report)
            self.faces_seen += report.landmarks is not None
            side = np.hstack([fit_frame(report.landmark_image, height, height), report.output])
            recorder.send(Frame(side, report.timestamp, report.index), wait=True)

    observer = Observer()
    config = RunnerConfig(
        source=source,
        engine=engine,
        output_size=(width, height),
        sinks=tuple(sinks),
        lossless=True,  # offline: every frame rendered, exactly `frames` of them
        duration_s=frames / fps,
    )
    runner = Runner(config, checkpoint, avatar, observer, engine_factory=create_engine)
    start = time.perf_counter()
    try:
        runner.start()  # raises for bad input (an unknown engine, say) before any frame is rendered
        try:
            while not runner.wait(0.2):
                pass
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: keep what was rendered
            runner.stop("interrupted")
            runner.wait()
        fatal = [e.message for e in observer.errors if e.fatal]
        if fatal:
            raise InputError(f"the demo failed: {fatal[0]}")
        if driver is not None and observer.faces_seen == 0:
            raise InputError(f"{driver}: no face found in any frame of the driving video")
        if observer.frames == 0:
            raise InputError("the demo rendered no frame")
    except BaseException:
        # The run failed: throw away our own partial file, report the run's error (not the empty
        # recording's), and leave `out` as it was, whether or not it existed before.
        recorder.abort()
        raise
    recorder.close()
    elapsed = time.perf_counter() - start
    saved = f"{recorder.saved}" + (
        f" ({out} already exists: nothing is ever overwritten)" if recorder.saved != out else ""
    )
    stats = runner.stats()
    return (
        f"demo: {observer.frames} frames → {saved} | rasterize {stats.stages['rasterize'].p50:.2f} ms, "
        f"generator ({runner.engine_name}) {stats.stages['infer'].p50:.1f} ms median | "
        f"{observer.frames / elapsed:.1f} fps overall"
    )
