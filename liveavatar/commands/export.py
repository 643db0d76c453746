"""`liveavatar export`: a checkpoint → ONNX graphs (generator, embedder, optional fp16), parity-checked."""

from __future__ import annotations

import argparse
from pathlib import Path

from liveavatar.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export the generator and embedder to ONNX, checked against PyTorch")
    add_arguments(p)
    p.set_defaults(handler=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the bundled model)")
    p.add_argument("--out", type=Path, required=True, help="folder for generator.onnx, embedder.onnx, …")
    p.add_argument("--fp16", action="store_true", help="also export generator-fp16.onnx for GPU engines")
    p.add_argument("--no-embedder", action="store_true", help="skip embedder.onnx")
    p.add_argument(
        "--portraits", type=Path, help="portraits for the parity check's landmark images (default: shared data)"
    )


def run(args: argparse.Namespace) -> int:
    from liveavatar.engines.export import export_checkpoint
    from liveavatar.models.checkpoint import load_checkpoint, resolve_checkpoint

    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"--out {args.out} exists and is not a folder")
    if not args.out.parent.is_dir():
        raise InputError(f"--out {args.out}: folder {args.out.parent} does not exist")
    if args.portraits is not None and not args.portraits.is_dir():
        raise InputError(f"--portraits {args.portraits} is not a folder")
    checkpoint = load_checkpoint(resolve_checkpoint(args.checkpoint), discriminator=False)
    report = export_checkpoint(
        checkpoint, args.out, fp16=args.fp16, embedder=not args.no_embedder, portraits_dir=args.portraits
    )
    files = ", ".join(str(p) for p in report.files)
    print(f"exported {files} in {report.seconds:.0f} s; every parity check above holds")
    return 0
