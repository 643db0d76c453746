"""`liveavatar eval --checkpoint CKPT --data DATA_DIR --out REPORT_DIR`: held-out self- and cross-reenactment."""

from __future__ import annotations

import argparse
from pathlib import Path

from liveavatar.commands.argnumbers import count


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure a checkpoint on the held-out people of a prepared dataset",
        description="Self-reenactment (the first K frames of a held-out video make the avatar, later frames "
        "drive it): SSIM, PSNR, L1 against the real frames and landmark error (mediapipe on the generated "
        "frames vs the driving landmarks, / inter-ocular distance); cross-reenactment landmark error. "
        "Writes REPORT_DIR/metrics.json and sheet.png; deterministic. With --portraits and --drivers: every "
        "portrait driven by every clip, the model beside the training-free warp: identity distance (dlib "
        "descriptor, the `eval` extra), face-found rate, Pearson r of mouth, eyes, yaw, pitch, roll between "
        "driver and output, mouth range; photos and paintings apart. Writes cross_metrics.json and cross_sheet.png.",
    )
    p.add_argument("--checkpoint", type=Path, help="model to evaluate (default: the bundled model)")
    p.add_argument("--data", type=Path, help="dataset folder written by `liveavatar prepare` (self-reenactment)")
    p.add_argument("--portraits", type=Path, help="folder of portraits for cross-reenactment (with --drivers)")
    p.add_argument("--drivers", type=Path, help="folder of driving clips for cross-reenactment (with --portraits)")
    p.add_argument("--frames-per-clip", type=count(1, 100_000), default=48, help="driving frames per clip (default 48)")
    p.add_argument("--max-portraits", type=count(1, 1_000_000), help="use at most this many portraits")
    p.add_argument("--max-drivers", type=count(1, 1_000_000), help="use at most this many driving clips")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--shots", default="1,8", help="K values, comma-separated (default 1,8)")
    p.add_argument(
        "--finetune-steps", type=count(0, 1_000_000), default=0, help="fine-tune G on the K shots first (default 0)"
    )
    p.add_argument("--max-videos", type=count(1, 1_000_000), help="evaluate at most this many held-out videos")
    p.add_argument(
        "--frames-per-video", type=count(1, 100_000), default=16, help="driving frames per video (default 16)"
    )
    p.add_argument("--split", choices=("held_out", "train"), default="held_out", help="which persons")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--force", action="store_true", help="replace an existing report in --out")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")
    from liveavatar.errors import InputError
    from liveavatar.files.checks import check_output_folder
    from liveavatar.models.checkpoint import resolve_checkpoint
    from liveavatar.training.evaluate import EvalSettings, evaluate, format_metrics, parse_shots

    if args.finetune_steps < 0 or (args.max_videos is not None and args.max_videos < 1) or args.frames_per_video < 1:
        raise InputError("--finetune-steps must be ≥ 0, --max-videos and --frames-per-video ≥ 1")
    if (args.portraits is None) != (args.drivers is None):
        raise InputError("--portraits and --drivers go together: a folder of portraits and a folder of clips")
    if args.data is None and args.portraits is None:
        raise InputError("nothing to evaluate: give --data DATA_DIR, or --portraits DIR --drivers DIR, or both")
    if args.frames_per_clip < 3 or any(v is not None and v < 1 for v in (args.max_portraits, args.max_drivers)):
        raise InputError("--frames-per-clip must be ≥ 3, --max-portraits and --max-drivers ≥ 1")
    if args.portraits is not None:
        _cross(args)
    if args.data is None:
        return 0
    shots = parse_shots(args.shots)
    check_output_folder(args.out, "--out", needed_bytes=16 << 20)  # before the work, not after it
    settings = EvalSettings(
        shots=shots,
        finetune_steps=args.finetune_steps,
        max_videos=args.max_videos,
        frames_per_video=args.frames_per_video,
        part=args.split,
        device=args.device,
    )
    metrics = evaluate(resolve_checkpoint(args.checkpoint), args.data, args.out, settings, force=args.force)
    print(format_metrics(metrics, shots))
    print(f"wrote {args.out / 'metrics.json'} and {args.out / 'sheet.png'}")
    return 0


def _live_engine(checkpoint):
    """The engine `run` would pick for the checkpoint (the fastest that works here), for the live row."""
    from liveavatar.engines.registry import create_engine

    return create_engine("auto", checkpoint).engine


def _cross(args: argparse.Namespace) -> None:
    import json

    import torch

    from liveavatar.engines.embedder import create_embedder
    from liveavatar.errors import InputError
    from liveavatar.models.checkpoint import load_checkpoint, resolve_checkpoint
    from liveavatar.training.cross_eval import CROSS_SHEET_FILE, CrossSettings, cross_reenact, format_cross

    report_file = args.out / "cross_metrics.json"
    if report_file.exists() and not args.force:
        raise InputError(f"{report_file} already exists; choose another --out or add --force to replace it")
    device = torch.device(args.device)
    path = resolve_checkpoint(args.checkpoint)
    checkpoint = load_checkpoint(path, discriminator=False, device=device)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = CrossSettings(
        frames_per_clip=args.frames_per_clip, max_portraits=args.max_portraits, max_drivers=args.max_drivers
    )
    report = cross_reenact(
        checkpoint, args.portraits, args.drivers, settings, args.out, device, create_embedder, _live_engine
    )
    report = {"checkpoint": str(path), "checkpoint_sha256": checkpoint.sha256, **report}
    tmp = report_file.with_name(report_file.name + ".partial")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(report_file)
    print(format_cross(report))
    print(f"wrote {report_file} and {args.out / CROSS_SHEET_FILE}")
