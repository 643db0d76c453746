"""`liveavatar pose`: a portrait or avatar posed by hand (head angles, smile, mouth, eyes, brows), rendered
to one still, or with --sweep to a short clip that moves between two settings. No camera needed; every
output carries the AI mark (and a clip the MP4 tag) like `run`'s.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from liveavatar.errors import InputError
from liveavatar.files.checks import check_output_file, require_file

STILL_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_SWEEP_FRAMES = 50


def register(sub: argparse._SubParsersAction) -> None:
    from liveavatar.landmarks.posing import RANGES

    p = sub.add_parser("pose", help="pose a portrait by hand: one still, or a short clip with --sweep")
    p.add_argument("source", type=Path, metavar="PORTRAIT_OR_AVATAR", help="an image, or an .avatar file")
    for name, (low, high, meaning) in RANGES.items():
        p.add_argument(f"--{name}", type=float, default=0.0, help=f"{low:g} to {high:g}: {meaning} (default 0)")
    p.add_argument("-o", "--out", type=Path, required=True, help="OUT.png (a still) or OUT.mp4 (with --sweep)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="render a clip going from --from to the given settings and back (write OUT.mp4)",
    )
    p.add_argument("--from", dest="start", default="", metavar="SETTINGS", help="sweep start, e.g. 'yaw=-15,smile=0'")
    p.add_argument("--frames", type=int, default=DEFAULT_SWEEP_FRAMES, help="frames of the sweep (default 50)")
    p.add_argument("--fps", type=float, default=25.0, help="frame rate of the sweep (default 25)")
    p.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the bundled model)")
    p.add_argument("--engine", default="auto", help="generator engine (default auto)")
    p.add_argument("--no-ai-mark", action="store_true", help="do NOT put the 'AI' mark on the output")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from liveavatar.landmarks.posing import RANGES, PoseSettings, parse_pose

    target = PoseSettings(**{name: getattr(args, name) for name in RANGES})
    start = parse_pose(args.start)
    suffix = args.out.suffix.lower()
    if args.sweep and suffix != ".mp4":
        raise InputError(f"{args.out}: a sweep is a clip; name the output .mp4")
    if not args.sweep and suffix not in STILL_SUFFIXES:
        raise InputError(f"{args.out}: a still is an image; name the output .png or .jpg (or add --sweep for .mp4)")
    if args.start and not args.sweep:
        raise InputError("--from is the start of a --sweep; add --sweep")
    if not 2 <= args.frames <= 2000:
        raise InputError(f"--frames {args.frames}: use 2 to 2000")
    if not 1 <= args.fps <= 120:
        raise InputError(f"--fps {args.fps:g}: use 1 to 120")
    check_output_file(args.out, "--out", force=True)
    require_file(args.source, "source", "give a portrait image or an avatar file")

    renderer = _renderer(args)
    try:
        if args.sweep:
            _sweep(renderer, start, target, args)
            print(f"pose: {args.frames} frames from {_describe(start)} to {_describe(target)} and back → {args.out}")
        else:
            from liveavatar.files.imageio import write_image

            frame = renderer.render(target)
            partial = args.out.with_name(args.out.name + ".partial" + suffix)
            write_image(partial, frame.output)
            partial.replace(args.out)
            print(f"pose: {renderer.avatar.name} at {_describe(target)} → {args.out}")
    finally:
        renderer.engine.close()
    return 0


def _describe(settings) -> str:
    values = [f"{k}={v:g}" for k, v in settings.as_dict().items() if v]
    return ", ".join(values) or "rest"


def _renderer(args: argparse.Namespace):
    from liveavatar.avatar import load_avatar, warp_avatar_of
    from liveavatar.commands.demo import output_size
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.posing import PoseRenderer

    checkpoint = open_checkpoint(resolve_checkpoint(args.checkpoint))
    if args.source.suffix.lower() == ".avatar":
        avatar = load_avatar(args.source, checkpoint.sha256)
    else:
        avatar = build_avatar([args.source], checkpoint)
    engine = create_engine(args.engine, checkpoint, avatar.generator_weights).engine
    width, height = output_size(avatar.portrait.shape, 720)
    warp = warp_avatar_of(avatar, checkpoint)
    return PoseRenderer(avatar, engine, width, height, ai_mark=not args.no_ai_mark, warp=warp)


def _sweep(renderer, start, target, args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from liveavatar.sinks.record import RecordSink
    from liveavatar.types import Frame

    first = renderer.render(start).output
    height, width = first.shape[:2]
    recorder = RecordSink(args.out, width, height, args.fps, report=lambda state: None, lossless=True)
    recorder.open()
    try:
        for i in tqdm(range(args.frames), desc="pose sweep", unit="frame"):
            a = 0.5 - 0.5 * math.cos(2 * math.pi * i / args.frames)  # start → target → start, smoothly
            output = renderer.render(start.blend(target, a)).output
            recorder.send(Frame(output, i / args.fps, i), wait=True)
    finally:
        recorder.close()
