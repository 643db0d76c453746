"""Numbers from the command line, checked where argparse reads them: finite and in range, or one line.

`float("nan")`, `float("inf")` and `1e308` are all floats Python accepts; unchecked they reached the run
(`--duration nan` was a traceback and a 0-byte file, `--duration 1e308` aborted the process in a native
timer). Every float option of every verb uses `finite` or `number`; counts use `count`. A refusal is
argparse's own error, which liveavatar.cli prints as one line with exit 2.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def finite(text: str) -> float:
    """A finite float (no nan, no ±inf, no overflow to inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def number(low: float, high: float, low_open: bool = False) -> Callable[[str], float]:
    """A finite float in [low, high] (or (low, high] with low_open)."""

    def parse(text: str) -> float:
        value = finite(text)
        if value < low or value > high or (low_open and value == low):
            span = (
                f"more than {_plain(low)} and at most {_plain(high)}"
                if low_open
                else f"from {_plain(low)} to {_plain(high)}"
            )
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; use a number {span}")
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def count(low: int, high: int) -> Callable[[str], int]:
    """A whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; use {low} to {high}")
        return value

    parse.__name__ = "count"
    return parse


def _plain(value: float) -> str:
    """2592000, not 2.592e+06; 0.9 as 0.9."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
