"""`liveavatar pose`: a portrait or avatar posed by hand (head angles, smile, mouth, eyes, brows), rendered
to one still, or with --sweep to a short clip that moves between two settings. No camera needed; every
output carries the AI mark (and a clip the MP4 tag) like `run`'s, the invisible watermark, and a signed C2PA
manifest (liveavatar.provenance).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from liveavatar.commands.argnumbers import count, finite, number
from liveavatar.errors import InputError
from liveavatar.files.checks import check_output_file, require_file, save_new_file, saved_note
from liveavatar.files.text import printable

STILL_SUFFIXES = (".png", ".jpg", ".jpeg")
DEFAULT_SWEEP_FRAMES = 50


def register(sub: argparse._SubParsersAction) -> None:
    from liveavatar.landmarks.posing import RANGES

    p = sub.add_parser("pose", help="pose a portrait by hand: one still, or a short clip with --sweep")
    p.add_argument("source", type=Path, metavar="PORTRAIT_OR_AVATAR", help="an image, or an .avatar file")
    for name, (low, high, meaning) in RANGES.items():
        flag = "--" + name.replace("_", "-")  # gaze_x → --gaze-x
        p.add_argument(flag, dest=name, type=finite, default=0.0, help=f"{low:g} to {high:g}: {meaning} (default 0)")
    p.add_argument("-o", "--out", type=Path, required=True, help="OUT.png (a still) or OUT.mp4 (with --sweep)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="render a clip going from --from to the given settings and back (write OUT.mp4)",
    )
    p.add_argument("--from", dest="start", default="", metavar="SETTINGS", help="sweep start, e.g. 'yaw=-15,smile=0'")
    p.add_argument(
        "--frames", type=count(2, 2000), default=DEFAULT_SWEEP_FRAMES, help="frames of the sweep (default 50)"
    )
    p.add_argument("--fps", type=number(1, 120), default=25.0, help="frame rate of the sweep (default 25)")
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
    check_output_file(args.out, "--out", force=True)  # an existing file is fine: the output gets a free name
    require_file(args.source, "source", "give a portrait image or an avatar file")

    renderer = _renderer(args)
    try:
        if args.sweep:
            saved = _sweep(renderer, start, target, args)
            print(
                f"pose: {args.frames} frames from {_describe(start)} to {_describe(target)} and back → {saved}"
                + saved_note(saved, args.out)
            )
        else:
            from liveavatar.files.imageio import write_image
            from liveavatar.provenance.manifest import sign_or_warn

            frame = renderer.render(target)

            # never over a file, not even `pose me.jpg -o me.jpg`: saved as me-1.jpg, and said so; signed (C2PA)
            # before the still gets its name
            def write(tmp: Path) -> None:
                write_image(tmp, frame.output)
                sign_or_warn(tmp, renderer.avatar.checkpoint_sha256)

            saved = save_new_file(args.out, write, "--out")
            print(
                f"pose: {printable(renderer.avatar.name)} at {_describe(target)} → {saved}"
                + saved_note(saved, args.out)
            )
    finally:
        renderer.engine.close()
    return 0


def _describe(settings) -> str:
    values = [f"{k}={v:g}" for k, v in settings.as_dict().items() if v]
    return ", ".join(values) or "rest"


def _renderer(args: argparse.Namespace):
    from liveavatar.avatar import load_avatar, warp_avatar_of
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
    # The portrait's own size (as the avatar stores it, ≤ PORTRAIT_MAX_SIDE): a still at rest is the portrait.
    # A sweep's MP4 needs even sizes: an odd side is fitted into the even size one pixel smaller.
    height, width = avatar.portrait.shape[:2]
    if args.sweep:
        width, height = max(16, width // 2 * 2), max(16, height // 2 * 2)
    warp = warp_avatar_of(avatar, checkpoint)
    return PoseRenderer(avatar, engine, width, height, ai_mark=not args.no_ai_mark, warp=warp)


def _sweep(renderer, start, target, args: argparse.Namespace) -> Path:
    """Renders the sweep into args.out (or NAME-1.mp4 … if taken, by the recorder's rule); returns the name."""
    from tqdm import tqdm

    from liveavatar.sinks.record import RecordSink
    from liveavatar.types import Frame

    first = renderer.render(start).output
    height, width = first.shape[:2]
    recorder = RecordSink(
        args.out,
        width,
        height,
        args.fps,
        lambda state: None,
        lossless=True,
        model_sha256=renderer.avatar.checkpoint_sha256,
    )
    recorder.open()
    try:
        for i in tqdm(range(args.frames), desc="pose sweep", unit="frame"):
            a = 0.5 - 0.5 * math.cos(2 * math.pi * i / args.frames)  # start → target → start, smoothly
            output = renderer.render(start.blend(target, a)).output
            recorder.send(Frame(output, i / args.fps, i), wait=True)
    finally:
        recorder.close()
    assert recorder.saved is not None  # close() raises when nothing was saved
    return recorder.saved
