"""`liveavatar prepare VIDEO_DIR -o DATA_DIR`: videos → aligned face crops + landmarks, in per-video shards."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from liveavatar.commands.argnumbers import count, number


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare",
        help="turn a folder of talking-head videos into a training dataset (face crops + landmarks)",
        description="Finds videos recursively (VoxCeleb layout id/video/clip.mp4 groups clips by person; "
        "otherwise each video is its own person), tracks the face, crops it like the live path and writes one "
        "shard per video. Re-running resumes: finished videos are skipped.",
    )
    p.add_argument("video_dir", help="folder of videos (.mp4 .avi .mov .mkv .mpg .webm), searched recursively")
    p.add_argument("-o", "--out", required=True, help="dataset folder to create (or resume)")
    p.add_argument(
        "--workers",
        type=count(0, 256),
        default=os.cpu_count() or 1,
        help="processes working on videos in parallel (0: in this process); default: one per core",
    )
    p.add_argument(
        "--frames-per-video", type=count(1, 100_000), default=64, help="frames kept per video, spread evenly"
    )
    p.add_argument(
        "--min-frames", type=count(1, 100_000), default=9, help="skip videos with fewer usable frames (default 9)"
    )
    p.add_argument("--size", type=count(16, 4096), default=256, help="crop size in pixels (default 256)")
    p.add_argument(
        "--jpeg-quality", type=count(1, 100), default=90, help="JPEG quality of the stored crops (default 90)"
    )
    p.add_argument(
        "--held-out-fraction",
        type=number(0, 0.9),
        default=0.1,
        help="fraction of persons held out for evaluation (default 0.1)",
    )
    p.add_argument("--seed", type=count(0, 2**32 - 1), default=0, help="seed of the train/held-out split")
    p.add_argument("--force", action="store_true", help="start over: replace a dataset already in --out")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GLOG_minloglevel", "2")  # before mediapipe loads: its warnings bury the progress bar
    from liveavatar.errors import InputError
    from liveavatar.files.checks import check_output_folder
    from liveavatar.training.prepare import PrepareSettings, format_report, prepare_dataset

    if args.frames_per_video < 2 or args.min_frames < 2 or args.size < 16:
        raise InputError("--frames-per-video and --min-frames must be at least 2 and --size at least 16")
    if not 0 <= args.held_out_fraction < 1:
        raise InputError(f"--held-out-fraction must be in [0, 1), got {args.held_out_fraction}")
    check_output_folder(Path(args.out), "-o", needed_bytes=64 << 20)
    settings = PrepareSettings(
        image_size=args.size,
        frames_per_video=args.frames_per_video,
        min_frames=min(args.min_frames, args.frames_per_video),
        jpeg_quality=args.jpeg_quality,
        held_out_fraction=args.held_out_fraction,
        seed=args.seed,
    )
    report = prepare_dataset(args.video_dir, args.out, settings, workers=args.workers, force=args.force)
    print(format_report(report))
    print(f"report: {os.path.join(args.out, 'report.json')}, split: {os.path.join(args.out, 'split.json')}")
    return 0
