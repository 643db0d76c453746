#!/usr/bin/env python
"""Checkpoint → ONNX (generator, embedder, optional fp16), parity-checked: the same as `liveavatar export`.

python tools/export_onnx.py --checkpoint CKPT --out DIR [--fp16] [--no-embedder] [--portraits DIR]
"""

from __future__ import annotations

import argparse
import sys

from liveavatar.commands.export import add_arguments, run
from liveavatar.errors import LiveAvatarError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export_onnx.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except LiveAvatarError as exc:
        print(f"export_onnx.py: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
