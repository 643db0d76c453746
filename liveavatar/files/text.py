"""Text from files made safe for a terminal: the one place control characters are escaped.

An avatar's name, its notes and sources, a checkpoint's metadata: anything read from a file can hold
ESC sequences that clear a terminal, move its cursor or forge lines, and bidirectional overrides that
reorder what is shown. Every such string goes through `printable` before it is printed or put in an error.
"""

from __future__ import annotations

import re

# C0 and C1 controls (ESC, CR, LF, BS, ...), DEL, and the bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object) -> str:
    """`text` as one line with every control character shown as an escape (\\x1b, \\n, \\u202e)."""
    return _UNSAFE.sub(_escape, str(text))
