"""`liveavatar train`: meta-learning of E, P, G and D on a prepared dataset (one CPU, one GPU, or torchrun)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from liveavatar.commands.argnumbers import count, number


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="meta-learn a talking-head model on a prepared dataset",
        description="K-shot episodes as in Zakharov et al. (2019). Several GPUs or machines: launch the same "
        "command with torchrun (e.g. torchrun --nproc_per_node 8 -m liveavatar train ...).",
    )
    p.add_argument(
        "--preset",
        choices=("lite", "paper", "tiny", "warp", "warp-tiny"),
        default="lite",
        help="model size and kind (default lite; docs/TRAINING.md compares them)",
    )
    p.add_argument("--data", required=True, help="dataset folder written by `liveavatar prepare`")
    p.add_argument("--out", required=True, help="run folder: checkpoints, logs and sample grids go here")
    p.add_argument(
        "--steps", type=count(1, 10**9), default=100_000, help="total steps (a resumed run continues to this)"
    )
    p.add_argument(
        "--minutes",
        type=number(0, 525_600, low_open=True),
        help="stop after this many minutes (still writes the checkpoint)",
    )
    p.add_argument("--batch", type=count(1, 4096), default=8, help="episodes per step and process (default 8)")
    p.add_argument("--k", type=count(1, 256), default=8, help="frames per episode that make ê (default 8)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--force", action="store_true", help="erase a run already in --out and start over")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="where to train (default auto: CUDA if present)",
    )
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto", help="bf16 autocast (auto: on CUDA only)")
    p.add_argument("--lr-g", type=number(0, 1, low_open=True), default=5e-5, help="Adam rate of E, P, G (paper: 5e-5)")
    p.add_argument("--lr-d", type=number(0, 1, low_open=True), default=2e-4, help="Adam rate of D (paper: 2e-4)")
    p.add_argument(
        "--lr-scale", type=number(0, 1000, low_open=True), default=1.0, help="multiplies both rates (short runs)"
    )
    p.add_argument("--vgg19-weights", type=Path, help="local VGG19 state dict: enables the paper's VGG19 loss")
    p.add_argument("--vggface-weights", type=Path, help="local VGGFace (VGG-16) state dict: the VGGFace loss")
    p.add_argument("--mch-weight", type=number(0, 1e6), default=80.0, help="embedding match weight (paper: 80)")
    p.add_argument("--fm-weight", type=number(0, 1e6), default=10.0, help="feature matching weight (paper: 10)")
    p.add_argument("--log-every", type=count(1, 10**9), default=10, help="print losses every N steps (default 10)")
    p.add_argument(
        "--sample-every", type=count(0, 10**9), default=500, help="write a sample grid every N steps (0: never)"
    )
    p.add_argument(
        "--checkpoint-every", type=count(1, 10**9), default=1000, help="save a checkpoint every N steps (default 1000)"
    )
    p.add_argument(
        "--preload",
        choices=("auto", "memory", "shards"),
        default="auto",
        help="hold all frames decoded on the device (fast, small datasets) or decode per step",
    )
    p.add_argument(
        "--loader-threads", type=count(1, 256), default=8, help="threads decoding training frames (default 8)"
    )
    p.add_argument("--seed", type=count(0, 2**32 - 1), default=0, help="seed of the weights and episodes (default 0)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from liveavatar.errors import InputError
    from liveavatar.files.checks import check_output_folder
    from liveavatar.training.losses import LossWeights
    from liveavatar.training.meta_train import TrainSettings, train

    for name in ("log_every", "checkpoint_every"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr_scale <= 0 or args.lr_g <= 0 or args.lr_d <= 0:
        raise InputError("learning rates and --lr-scale must be positive")
    check_output_folder(Path(args.out), "--out", needed_bytes=64 << 20)
    settings = TrainSettings(
        preset=args.preset,
        data=Path(args.data),
        out=Path(args.out),
        steps=args.steps,
        minutes=args.minutes,
        batch=args.batch,
        k=args.k,
        resume=args.resume,
        force=args.force,
        device=args.device,
        amp=args.amp,
        lr_g=args.lr_g * args.lr_scale,
        lr_d=args.lr_d * args.lr_scale,
        vgg19_weights=args.vgg19_weights,
        vggface_weights=args.vggface_weights,
        log_every=args.log_every,
        sample_every=args.sample_every,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        preload=args.preload,
        loader_threads=args.loader_threads,
        weights=LossWeights(mch=args.mch_weight, fm=args.fm_weight),
    )
    result = train(settings)
    if os.environ.get("RANK", "0") == "0":  # one line, not one per torchrun process
        print(
            f"{result.stopped_by}: step {result.step}, {result.steps_per_second:.2f} steps/s; "
            f"checkpoint {result.checkpoint}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m liveavatar.commands.train ...`: the train verb alone, for machines where only training
    runs (a rented GPU with the repository on PYTHONPATH): it imports no other verb's dependencies."""
    import sys

    from liveavatar.errors import LiveAvatarError
    from liveavatar.files.text import printable

    parser = argparse.ArgumentParser(prog="liveavatar-train")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.handler(args)
    except LiveAvatarError as exc:
        print(f"liveavatar train: error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
