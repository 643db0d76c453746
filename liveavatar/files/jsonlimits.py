"""JSON read from files (avatar and checkpoint metadata, dataset shards) parsed within limits.

Python's json module recurses once per nesting level: 100000 nested brackets in an avatar's metadata
raised RecursionError past every handler and hid the whole gallery. `parse_json` checks the size and the
nesting depth before parsing (a vectorised bracket count outside strings, no recursion), so a crafted file
costs a bounded amount of work and ends in one InputError-like message naming the file.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from liveavatar.errors import LiveAvatarError

MAX_BYTES = 1 << 20  # metadata is a few KB; 1 MB leaves room for long source lists
MAX_DEPTH = 32  # the deepest structure LiveAvatar writes is 3 levels

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def parse_json(
    text: str | bytes,
    what: str,
    error: type[LiveAvatarError] = LiveAvatarError,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """Parses `text`; raises `error` naming `what` (e.g. "checkpoint x.safetensors, field config") when it is
    larger than max_bytes, nested deeper than max_depth, or not JSON."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise error(f"{what} is not UTF-8 text (damaged file)") from None
    if len(text) > max_bytes:
        raise error(f"{what} holds {len(text)} characters of JSON, more than the {max_bytes} allowed (damaged file)")
    depth = nesting_depth(text)
    if depth > max_depth:
        raise error(f"{what} is JSON nested {depth} levels deep, more than the {max_depth} allowed (damaged file)")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON ({exc}) (damaged file)") from None


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of JSON text, ignoring brackets inside strings."""
    bare = _STRING.sub("", text)
    codes = np.frombuffer(bare.encode("utf-8"), np.uint8)
    steps = (np.isin(codes, (ord("["), ord("{"))).astype(np.int32)) - np.isin(codes, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max()) if steps.size else 0
