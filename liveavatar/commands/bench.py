"""`liveavatar bench`: generator speed per engine, against PyTorch eager in the same run (see engines.bench)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liveavatar.commands.argnumbers import count, number
from liveavatar.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="time the generator on each engine against the PyTorch reference")
    p.add_argument(
        "--preset",
        default=None,
        help="lite, paper, tiny, warp or warp-tiny (random weights; default lite; without PyTorch: the bundled "
        "model); warp presets time their frame graph beside lite's generator on ONNX Runtime",
    )
    p.add_argument("--checkpoint", type=Path, help="time this checkpoint's model instead of random weights")
    p.add_argument(
        "--engines",
        default="torch,onnxruntime",
        help="comma-separated bench engines (default torch,onnxruntime; `all` for every one); "
        "see `liveavatar bench --list`",
    )
    p.add_argument("--list", action="store_true", help="list the bench engines and exit")
    p.add_argument("--frames", type=count(1, 100_000), default=50, help="timed frames per engine (default 50)")
    p.add_argument("--batch", type=count(1, 256), default=1, help="frames per call (default 1, as live)")
    p.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when PyTorch sees a GPU, else cpu")
    p.add_argument(
        "--threads", type=count(1, 256), help="CPU threads for PyTorch and ONNX Runtime (default: cores, up to 4)"
    )
    p.add_argument("--portraits", type=Path, help="portraits to draw real landmark images from (default: shared data)")
    p.add_argument(
        "--max-seconds",
        type=number(0, 86_400, low_open=True),
        help="stop timing an engine after this long (at least 5 calls)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout (progress on stderr)")
    p.add_argument("--out", type=Path, help="also write the JSON report to this file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from liveavatar.engines.bench import (
        BENCH_ENGINES,
        engines_here,
        format_machine,
        format_report,
        run_bench,
        run_graph_bench,
    )
    from liveavatar.engines.ort_engine import default_threads
    from liveavatar.environment.machine import describe_machine
    from liveavatar.environment.optional import torch_available

    if args.list:  # the names, then this machine and what can run on it, as doctor checks it
        print("\n".join([*BENCH_ENGINES, "", *format_machine(describe_machine(), engines_here())]))
        return 0
    if args.frames < 1 or args.batch < 1:
        raise InputError(f"--frames and --batch must be at least 1, got {args.frames} and {args.batch}")
    engines = (
        list(BENCH_ENGINES) if args.engines == "all" else [e.strip() for e in args.engines.split(",") if e.strip()]
    )
    unknown = [e for e in engines if e not in BENCH_ENGINES]
    if unknown:
        raise InputError(f"unknown bench engine(s) {', '.join(unknown)}; choose from {', '.join(BENCH_ENGINES)}")
    if args.out is not None:
        from liveavatar.files.checks import check_output_file

        check_output_file(args.out, "--out", force=True)  # an existing report stays: this one gets a free name
    if args.portraits is not None and not args.portraits.is_dir():
        raise InputError(f"--portraits {args.portraits} is not a folder")
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else print
    common = dict(
        frames=args.frames,
        batch=args.batch,
        threads=args.threads or default_threads(),
        portraits_dir=args.portraits,
        max_seconds=args.max_seconds,
        say=say,
    )
    if torch_available():
        model, config, sha, weights = _model(args)
        if config.warp is not None:
            return _bench_warp(args, model)
        report = run_bench(config, model, sha, weights, engines, device=_device(args), **common)
    else:  # the runtime without the train extra: ONNX Runtime on the shipped (or cached) graphs
        report = run_graph_bench(_graph_checkpoint(args), engines, device=args.device or "cpu", **common)
    text = json.dumps(report.to_dict(), indent=2)
    _save_report(args, text, say)
    print(text if args.json else "\n" + format_report(report))
    return 0


def _bench_warp(args: argparse.Namespace, model) -> int:
    """warp presets: their one frame graph beside lite's generator graph, both on ONNX Runtime's CPU provider."""
    import torch

    from liveavatar.config import preset
    from liveavatar.engines.ort_engine import default_threads
    from liveavatar.engines.warp_bench import bench_warp, format_warp_bench
    from liveavatar.models.talking_head import TalkingHead

    torch.manual_seed(0)
    lite = TalkingHead(preset("lite"), num_videos=1, spectral=True, discriminator=False).fold_spectral_norm().eval()
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if args.json else print
    report = bench_warp(model, args.frames, args.threads or default_threads(), say, lite, args.max_seconds)
    text = json.dumps(report, indent=2)
    _save_report(args, text, say)
    print(text if args.json else "\n" + format_warp_bench(report))
    return 0


def _save_report(args: argparse.Namespace, text: str, say) -> None:
    """The JSON report into --out, never over an existing file (NAME-1.json …, said)."""
    if args.out is None:
        return
    from liveavatar.files.checks import save_new_file, saved_note

    saved = save_new_file(args.out, lambda tmp: tmp.write_text(text + "\n"), "--out")
    say(f"bench: report saved to {saved}{saved_note(saved, args.out)}")


def _device(args: argparse.Namespace) -> str:
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        from liveavatar.errors import DeviceUnavailableError

        raise DeviceUnavailableError("--device cuda: this PyTorch build sees no CUDA GPU; use --device cpu")
    return device


def _graph_checkpoint(args: argparse.Namespace):
    """Without PyTorch there are no random weights to time: the bundled model (or --checkpoint) it is."""
    from liveavatar.config import preset
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    try:
        expected = preset(args.preset) if args.preset else None
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    return open_checkpoint(resolve_checkpoint(args.checkpoint), expected=expected)


def _model(args: argparse.Namespace):
    """(model, config, checkpoint sha256, description of the weights)."""
    import torch

    from liveavatar.config import preset
    from liveavatar.models.talking_head import TalkingHead

    if args.checkpoint is not None:
        from liveavatar.models.checkpoint import load_checkpoint

        expected = preset(args.preset) if args.preset else None
        checkpoint = load_checkpoint(args.checkpoint, expected=expected, discriminator=False)
        return checkpoint.model, checkpoint.config, checkpoint.sha256, f"{args.checkpoint} ({checkpoint.sha256[:12]}…)"
    try:
        config = preset(args.preset or "lite")
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    torch.manual_seed(0)
    # Spectral norm folded as in an exported checkpoint: weights of a trained model's scale.
    model = TalkingHead(config, num_videos=1, spectral=True, discriminator=False).fold_spectral_norm().eval()
    return model, config, "random-weights", "random, seeded (fine for speed; frames are meaningless)"
