"""`liveavatar build-engine`: build (or check) the TensorRT engine ahead of time, into the engine cache.

Building takes minutes the first time on a GPU; doing it here keeps the first live start fast. Without
TensorRT or a GPU it says what is missing and exits with 2. The paper's presets build from the fp16 graph,
the `warp` presets (the bundled model) from their fp32 frame graph, their only export.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build-engine", help="build the TensorRT engine for a checkpoint (or avatar) ahead of time")
    p.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the bundled model)")
    p.add_argument("--avatar", type=Path, help="a fine-tuned avatar: build for its own generator weights")
    p.add_argument(
        "--precision",
        choices=("fp16", "fp32"),
        help="engine precision (default: fp16 for the paper's presets, fp32 for the warp presets, their only graph)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.registry import gpu_precision
    from liveavatar.engines.tensorrt_engine import TensorRTEngine, import_tensorrt
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    import_tensorrt()  # before loading anything: the usual answer here is "not installed"
    checkpoint = open_checkpoint(resolve_checkpoint(args.checkpoint))
    state = None
    if args.avatar is not None:
        from liveavatar.avatar import load_avatar

        state = load_avatar(args.avatar, checkpoint_sha256=checkpoint.sha256).generator_weights
    precision = args.precision or gpu_precision(checkpoint.config)
    onnx_path = cached_generator_onnx(checkpoint, state, precision)
    engine = TensorRTEngine(onnx_path, precision)
    print(f"{engine.name}: ready at {engine.plan_path}")
    engine.close()
    return 0
