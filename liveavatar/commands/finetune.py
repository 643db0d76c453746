"""`liveavatar finetune --checkpoint CKPT PORTRAIT... --steps N -o NAME.avatar`: the paper's few-shot
fine-tuning; the avatar carries ψ′ and its own generator weights and loads like any other avatar."""

from __future__ import annotations

import argparse
from pathlib import Path

from liveavatar.commands.argnumbers import count, number


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune",
        help="make an avatar whose generator is fine-tuned on the given portraits (slower, more faithful)",
        description="ψ′ starts at P·ê and the discriminator's w′ at w0 + ê; G and D are then trained on the "
        "portraits for --steps steps (Zakharov et al. 2019, §3.4).",
    )
    p.add_argument("portraits", nargs="+", type=Path, help="one or more images of the same person")
    p.add_argument("--checkpoint", type=Path, help="model to start from (default: the bundled model)")
    p.add_argument(
        "--discriminator",
        type=Path,
        help="D weights when the checkpoint has none (default: CKPT_discriminator.safetensors beside it)",
    )
    p.add_argument("--steps", type=count(1, 1_000_000), default=100, help="fine-tuning steps (default 100)")
    p.add_argument(
        "--lr-scale",
        type=number(0, 1000, low_open=True),
        default=1.0,
        help="multiplies the paper's rates (5e-5 G, 2e-4 D)",
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="avatar file to write (NAME.avatar)")
    p.add_argument("--name", help="avatar name (default: the output file's name)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    import torch
    from tqdm import tqdm

    from liveavatar.avatar import save_avatar
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.errors import InputError
    from liveavatar.files.checks import check_output_file
    from liveavatar.models.checkpoint import load_checkpoint, resolve_checkpoint
    from liveavatar.training.finetune import (
        FinetuneSettings,
        find_discriminator,
        finetune,
        finetune_summary,
        portrait_shots,
    )

    if args.steps < 1 or args.lr_scale <= 0:
        raise InputError("--steps must be at least 1 and --lr-scale positive")
    check_output_file(args.out, "-o", args.force, needed_bytes=16 << 20)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is visible to PyTorch; use --device cpu")
    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    path = resolve_checkpoint(args.checkpoint)
    plain = load_checkpoint(path, discriminator=False)  # what engines will pair the avatar with
    training = load_checkpoint(path, spectral=True)
    disc = find_discriminator(training, args.discriminator)
    size = plain.config.image_size
    frames, marks, notes, points = portrait_shots(list(args.portraits), size)
    base = build_avatar(args.portraits, plain, name=args.name or args.out.stem)
    settings = FinetuneSettings(steps=args.steps, lr_g=5e-5 * args.lr_scale, lr_d=2e-4 * args.lr_scale)
    with tqdm(total=args.steps, desc="fine-tune", unit="step", disable=None) as bar:
        result = finetune(
            training,
            frames,
            marks,
            settings,
            disc,
            device=device,
            progress=lambda what, fraction: bar.update(1),
            points=points,
        )
    summary = finetune_summary(result, settings, len(frames))
    note = f"fine-tuned {args.steps} steps on {len(frames)} portrait(s)" + (
        "" if result.used_discriminator else " with the content loss only (no discriminator was available)"
    )
    avatar = dataclasses.replace(
        base, psi=result.psi, generator_weights=result.generator_weights, notes=[*base.notes, note]
    )
    save_avatar(avatar, args.out)
    print(f"{note}; content loss {summary['content_first']:.4g} → {summary['content_last']:.4g}")
    print(f"wrote {args.out}")
    return 0
