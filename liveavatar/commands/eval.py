"""`liveavatar eval --checkpoint CKPT --data DATA_DIR --out REPORT_DIR`: held-out self- and cross-reenactment."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure a checkpoint on the held-out people of a prepared dataset",
        description="Self-reenactment (the first K frames of a held-out video make the avatar, later frames "
        "drive it): SSIM, PSNR, L1 against the real frames and landmark error (mediapipe on the generated "
        "frames vs the driving landmarks, / inter-ocular distance); cross-reenactment landmark error. "
        "Writes REPORT_DIR/metrics.json and sheet.png; deterministic.",
    )
    p.add_argument("--checkpoint", type=Path, help="model to evaluate (default: the bundled model)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder written by `liveavatar prepare`")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--shots", default="1,8", help="K values, comma-separated (default 1,8)")
    p.add_argument("--finetune-steps", type=int, default=0, help="fine-tune G on the K shots first (default 0)")
    p.add_argument("--max-videos", type=int, help="evaluate at most this many held-out videos")
    p.add_argument("--frames-per-video", type=int, default=16, help="driving frames per video (default 16)")
    p.add_argument("--split", choices=("held_out", "train"), default="held_out", help="which persons")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--force", action="store_true", help="replace an existing report in --out")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")
    from liveavatar.errors import InputError
    from liveavatar.models.checkpoint import resolve_checkpoint
    from liveavatar.outputs import check_output_folder
    from liveavatar.training.evaluate import EvalSettings, evaluate, format_metrics, parse_shots

    if args.finetune_steps < 0 or (args.max_videos is not None and args.max_videos < 1) or args.frames_per_video < 1:
        raise InputError("--finetune-steps must be ≥ 0, --max-videos and --frames-per-video ≥ 1")
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
