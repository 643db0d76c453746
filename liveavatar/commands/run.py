"""`liveavatar run`: drive an avatar live from a webcam, a video, an image or the scripted performance,
into a virtual camera, a recording, an HTTP stream and/or a preview window (several at once).

Everything a user can get wrong (the avatar, its checkpoint, the source, a port, a record folder) is
checked before anything starts, and so are the machine's parts the run needs (a webcam, a virtual camera
that is the only output: doctor's checks, liveavatar.environment.health); a missing virtual camera beside
other outputs is reported with its fix and the other sinks run on. Ctrl-C, SIGTERM and SIGHUP stop
cleanly: every sink is closed and every recording finalised. A recording that failed (disk full, write
error) makes the run exit non-zero, whatever else went well.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from liveavatar.commands.argnumbers import finite, number
from liveavatar.environment.machine import describe_machine
from liveavatar.errors import InputError, LiveAvatarError
from liveavatar.files.text import printable
from liveavatar.live.events import RunnerObserver

if TYPE_CHECKING:
    from liveavatar.live.spec import RunnerConfig

MAX_DURATION_S = 30 * 24 * 3600.0  # longer timeouts overflow native timers (1e308 aborted the process)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="drive an avatar live into a virtual camera, a recording, a stream")
    p.add_argument("--avatar", type=Path, required=True, help="avatar file made by `liveavatar avatar`")
    p.add_argument(
        "--source",
        default="webcam:0",
        help="webcam[:N[:WxH@FPS]], a video file, an image, or scripted (default webcam:0)",
    )
    p.add_argument(
        "--sink",
        action="append",
        default=[],
        metavar="SINK",
        help="vcam[:WxH@FPS] | record:OUT.mp4 | http[:PORT] | preview; repeat for several (default: preview)",
    )
    p.add_argument(
        "--engine",
        default="auto",
        help="auto | torch | onnxruntime | tensorrt | torch-cuda | onnxruntime-cuda (default auto)",
    )
    p.add_argument("--checkpoint", type=Path, help="model checkpoint the avatar was built with (default: bundled)")
    p.add_argument(
        "--mode",
        choices=("relative", "absolute"),
        default="relative",
        help="relative: your motion on the portrait's face (default); absolute: your landmarks as is",
    )
    add_expression_arguments(p)
    p.add_argument("--background", default="portrait", help="portrait | green | #RRGGBB (default portrait)")
    p.add_argument("--mirror", action="store_true", help="mirror the output left-right")
    p.add_argument("--size", default=None, help="output size WxH (default: the vcam's, else 1280x720)")
    p.add_argument(
        "--duration", type=number(0, MAX_DURATION_S, low_open=True), help="stop after this many seconds (up to 30 days)"
    )
    p.add_argument("--loop", action="store_true", help="play a video source (or the scripted one) in a loop")
    p.add_argument(
        "--every-frame",
        action="store_true",
        help="read a video source as fast as the pipeline goes and keep every frame (offline rendering)",
    )
    p.add_argument("--stats-json", type=Path, help="write fps, per-stage and latency p50/p95 here at the end")
    p.add_argument(
        "--no-ai-mark",
        action="store_true",
        help="do NOT put the small 'AI' mark on output frames (it tells viewers the video is generated)",
    )
    p.add_argument(
        "--no-driver-mouth",
        action="store_true",
        help="draw the inside of an open mouth (teeth over a dark cavity) instead of showing your own mouth's "
        "inside (teeth, tongue); both in the portrait's colours",
    )
    p.add_argument(
        "--no-creases",
        action="store_true",
        help="do NOT lay your creases and shading on the portrait's face (the folds of a smile, the shade under "
        "an open jaw, your shut lids' shading); the portrait then keeps its own light as it moves",
    )
    p.add_argument(
        "--http-no-token",
        action="store_true",
        help="serve --sink http without the random token in its address (any local program can then read it)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(handler=run)


def add_expression_arguments(p: argparse.ArgumentParser) -> None:
    """The relative mode's per-part gains and region mode (liveavatar.landmarks.controls)."""
    from liveavatar.landmarks.controls import GAIN_LABELS, REGION_HELP, REGIONS

    g = p.add_argument_group("expression control (relative mode; gains 0-2, 1 = as the driver moves)")
    for name, flag in (
        ("rotation", "--head-rotation"),
        ("position", "--head-position"),
        ("brows", "--brows"),
        ("eyes", "--eyes"),
        ("gaze", "--gaze"),
        ("mouth", "--mouth"),
    ):
        g.add_argument(flag, dest=f"gain_{name}", type=finite, default=1.0, metavar="G", help=GAIN_LABELS[name])
    g.add_argument(
        "--region",
        choices=REGIONS,
        default="everything",
        help="; ".join(f"{r}: {REGION_HELP[r]}" for r in REGIONS) + " (default everything)",
    )


def expression_controls(args: argparse.Namespace):
    """ExpressionControls from the flags of add_expression_arguments; InputError for a gain out of range."""
    from liveavatar.landmarks.controls import GAINS, ExpressionControls

    return ExpressionControls(**{name: getattr(args, f"gain_{name}") for name in GAINS}, region=args.region)


def build_config(args: argparse.Namespace):
    """The RunnerConfig the arguments describe; raises InputError on anything malformed."""
    from liveavatar.live.spec import (
        DEFAULT_OUTPUT_SIZE,
        RunnerConfig,
        parse_background,
        parse_sink,
        parse_size,
        parse_source,
    )
    from liveavatar.sinks.preview import display_available

    source = parse_source(args.source, realtime=not args.every_frame, loop=args.loop)
    if args.every_frame and source.kind == "webcam":
        raise InputError("--every-frame is for video files; a webcam is always live")
    texts = args.sink or (["preview"] if display_available() else [])
    if not texts:
        raise InputError(
            "no --sink given and no display for a preview; add e.g. --sink record:out.mp4 or --sink http:8765"
        )
    sinks = tuple(parse_sink(t) for t in texts)
    if any(s.kind == "preview" for s in sinks) and not display_available():  # before the model, not after
        raise InputError(
            "--sink preview needs a display (no DISPLAY or WAYLAND_DISPLAY here); use --sink record:out.mp4 "
            "or --sink http:8765 instead"
        )
    if args.http_no_token:
        sinks = tuple(replace(s, token=False) if s.kind == "http" else s for s in sinks)
    keys = [s.key for s in sinks]
    if len(set(keys)) != len(keys):
        raise InputError(f"the same sink is given twice: {', '.join(sorted({k for k in keys if keys.count(k) > 1}))}")
    vcam = next((s for s in sinks if s.kind == "vcam"), None)
    if args.size:
        w, h, _ = parse_size(args.size, "--size")
        size = (w, h)
    else:
        size = (vcam.width, vcam.height) if vcam else DEFAULT_OUTPUT_SIZE
    if args.duration is not None and args.duration <= 0:
        raise InputError(f"--duration must be positive, got {args.duration:g}")
    return RunnerConfig(
        source=source,
        engine=args.engine,
        mode=args.mode,
        expression=expression_controls(args),
        background=parse_background(args.background),
        mirror=args.mirror,
        ai_mark=not args.no_ai_mark,
        driver_mouth=not args.no_driver_mouth,
        creases=not args.no_creases,
        output_size=size,
        sinks=sinks,
        lossless=args.every_frame,
        duration_s=args.duration,
    )


def check_devices(config: RunnerConfig) -> None:
    """The machine's parts the run needs, asked of liveavatar.environment.health (doctor's checks) before the
    engine, the source or any sink opens: a webcam that is not there, and a virtual camera that cannot open
    when it is the only output, are refused with health's one line and its fix (DeviceUnavailableError).
    A virtual camera beside other outputs is left to the runner, which reports it and runs the others on."""
    from liveavatar.environment import health
    from liveavatar.errors import DeviceUnavailableError

    if config.source.kind == "webcam":
        problem = health.camera_problem(config.source.device)
        if problem:
            raise DeviceUnavailableError(problem)
    if config.sinks and all(s.kind == "vcam" for s in config.sinks):
        problem = health.virtual_camera_problem()
        if problem:
            raise DeviceUnavailableError(problem)


class _ConsoleObserver(RunnerObserver):
    """Prints sink states and errors as they happen; a tqdm line with frames, fps and latency."""

    def __init__(self, total: int | None, quiet: bool) -> None:
        from tqdm import tqdm

        # no {rate_fmt}: the postfix's fps (measured over the last second) is the one rate shown
        self.bar = (
            None
            if quiet
            else tqdm(
                total=total,
                unit="frame",
                file=sys.stderr,
                dynamic_ncols=True,
                bar_format="{desc}{n_fmt} frames [{elapsed}{postfix}]",
            )
        )
        self.message = ""
        self.fatal: list[str] = []
        self.faces_seen = 0  # frames with a tracked driver face: a run that never saw one failed
        self.failed_recordings: dict[str, str] = {}  # key → why
        self._said: set[str] = set()

    def _print_once(self, text: str) -> None:
        """A failure reaches us as a sink state and again as an error: one line is enough."""
        if text not in self._said:
            self._said.add(text)
            self._print(text)

    def _print(self, text: str) -> None:
        text = printable(text)  # messages may quote an avatar's name or other file contents
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def on_frame(self, report) -> None:
        self.message = report.message
        self.faces_seen += report.landmarks is not None

    def on_stats(self, stats) -> None:
        if self.bar is not None:
            self.bar.n = stats.frames
            self.bar.set_postfix_str(
                f"{stats.fps:.1f} fps, latency p50 {stats.latency.p50:.0f} ms, {self.message}", refresh=True
            )

    def on_sink_state(self, state) -> None:
        if state.status == "running":
            self._print(f"{state.key}: {state.detail}")
        elif state.status == "closed" and state.kind == "record":
            asked = state.target
            taken = f" ({asked} already exists: nothing is ever overwritten)" if state.detail != asked else ""
            self._print(f"{state.key}: saved {state.detail}{taken}")
        elif state.status == "failed":
            if state.kind == "record":
                self.failed_recordings[state.key] = state.detail
            self._print_once(f"warning: {state.detail}")

    def on_error(self, error) -> None:
        if not error.fatal and f"warning: {error.message}" in self._said:
            return
        self._print(("error: " if error.fatal else "note: ") + error.message)
        if error.fatal:
            self.fatal.append(error.message)

    def on_stopped(self, reason: str) -> None:
        if self.bar is not None:
            self.bar.close()


def _refuse_a_photo_as_avatar(path: Path) -> None:
    """`run --avatar photo.jpg` showed a raw safetensors error: say what to do instead."""
    from liveavatar.files.imageheader import HeaderError, read_header
    from liveavatar.files.imageio import IMAGE_SUFFIXES

    with open(path, "rb") as f:
        head = f.read(4096)
    try:
        read_header(head)
    except HeaderError:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            return  # not an image: load_avatar says what is wrong with it
    raise InputError(
        f"--avatar {path} is a picture, not an avatar; make an avatar first: liveavatar avatar {path} "
        f"(then run --avatar {path.with_suffix('.avatar').name})"
    )


def run(args: argparse.Namespace) -> int:
    from liveavatar.environment.stopsignals import stop_signals_as_interrupt

    with stop_signals_as_interrupt():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from liveavatar.avatar import eyes_note, load_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.errors import DeviceUnavailableError
    from liveavatar.files.checks import check_output_file, require_file
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.runner import Runner

    config = build_config(args)
    if args.stats_json is not None:
        check_output_file(args.stats_json, "--stats-json", force=True)  # never replaced: a free name at the end
    require_file(args.avatar, "avatar", "make one with `liveavatar avatar PORTRAIT`")
    _refuse_a_photo_as_avatar(args.avatar)
    checkpoint = open_checkpoint(resolve_checkpoint(args.checkpoint))
    avatar = load_avatar(args.avatar, checkpoint.sha256)
    check_devices(config)

    observer = _ConsoleObserver(None, args.quiet)
    runner = Runner(config, checkpoint, avatar, observer, engine_factory=create_engine)
    try:
        runner.start()
    except BaseException:
        observer.on_stopped("failed")
        raise
    if observer.bar is not None and config.lossless:
        observer.bar.total = runner.expected_frames()
    states = runner.sink_states()
    if states and all(s.status == "failed" for s in states.values()):
        runner.stop("no sink could open")
        runner.wait()
        raise DeviceUnavailableError("; ".join(s.detail for s in states.values()))
    print(
        f"run: {printable(avatar.name)} driven by {config.source.describe()} ({config.mode}), "
        f"engine {runner.engine_name}"
        + (f" (skipped: {'; '.join(runner.engine_skipped)})" if runner.engine_skipped else "")
        + ("; Ctrl-C to stop" if not config.lossless else ""),
        file=sys.stderr,
    )
    note = eyes_note(avatar, str(args.avatar), checkpoint)
    if note is not None:
        observer._print(f"note: {note}")
    started = time.monotonic()
    try:
        while not runner.wait(0.2):
            pass
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM / SIGHUP (stopsignals)
        runner.stop(f"stopped by {exc.args[0]}" if exc.args else "interrupted (Ctrl-C)")
        runner.wait()
    stats = runner.stats()
    if args.stats_json is not None:
        summary = {
            "source": config.source.describe(),
            "avatar": avatar.name,
            "preset": avatar.preset,
            "mode": config.mode,
            "output_size": list(config.output_size),
            "sinks": [s.key for s in config.sinks],
            "every_frame": config.lossless,
            "wall_s": round(time.monotonic() - started, 2),
            "stop_reason": runner.stop_reason,
            "machine": describe_machine(),
            **stats.as_dict(),
        }
        from liveavatar.files.checks import save_new_file, saved_note

        saved = save_new_file(
            args.stats_json, lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"), "--stats-json"
        )
        print(f"run: stats saved to {saved}{saved_note(saved, args.stats_json)}", file=sys.stderr)
    print(
        f"run: {stats.frames} frames in {stats.elapsed_s:.1f} s ({runner.stop_reason}) | {stats.fps:.1f} fps, "
        f"latency p50 {stats.latency.p50:.0f} ms p95 {stats.latency.p95:.0f} ms | skipped to stay live: "
        + stats.dropped_text(),
    )
    if observer.failed_recordings:
        raise LiveAvatarError("; ".join(observer.failed_recordings.values()))
    if stats.frames and not observer.faces_seen:  # said even under --quiet: the output showed no driving
        print(
            f"run: error: no face was seen in any of the {stats.frames} frames of {config.source.describe()}; "
            "face the camera in good light, or give a video or image with a frontal face",
            file=sys.stderr,
        )
        return 1
    return 1 if observer.fatal else 0
