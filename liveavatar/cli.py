"""`liveavatar <verb>`: one module per verb in liveavatar.commands, wired here in one readable list.

Each command module exposes `register(subparsers)`, which adds its parser and sets `handler` to a
function taking the parsed arguments and returning an exit code. A LiveAvatarError (a user's problem)
becomes one line on stderr (control characters escaped) and exit code 2; anything else keeps its
traceback, because it is a bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from liveavatar.errors import LiveAvatarError
from liveavatar.files.text import printable

# Imported lazily by name so `liveavatar info` does not pay for Qt, mediapipe or onnxruntime.
COMMANDS = (
    "info",
    "avatar",
    "demo",
    "prepare",
    "train",
    "finetune",
    "eval",
    "run",
    "pose",
    "doctor",
    "export",
    "build_engine",
    "bench",
    "check",
    "app",
)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, whose mistakes are one line like every other user error: `liveavatar run: error: argument
    --duration: 'nan' is not a finite number (see liveavatar run --help)`, exit 2; no usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {printable(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from liveavatar import __version__

    parser = _OneLineParser(prog="liveavatar", description="Animate any portrait with your face, live.")
    parser.add_argument("--version", action="version", version=f"liveavatar {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"liveavatar.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"liveavatar.commands.{name}":
                continue  # verb not built yet in this checkout
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse's one-line error (2), --help or --version (0): a code, also in-process
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.handler(args) or 0)
    except LiveAvatarError as exc:
        # printable: messages quote file contents (names, metadata), which must not drive the terminal
        print(f"liveavatar {args.command}: error: {printable(exc)}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "torch":
            raise
        # Training, fine-tuning, evaluation, export and the PyTorch engines need the train extra; the rest never
        # imports torch (tests/test_torchless.py), so this is the one line those verbs give without it.
        from liveavatar.environment.optional import TORCH_EXTRA_HINT

        print(
            f"liveavatar {args.command}: error: this needs PyTorch, which is not installed; install the train extra: "
            f"{TORCH_EXTRA_HINT}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"liveavatar {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
