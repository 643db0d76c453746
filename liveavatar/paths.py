"""Input files named on the command line: a folder given where a file is expected is called a folder.

"does not exist" for a path that exists (as a folder) sent users looking for a typo that was not there.
"""

from __future__ import annotations

from pathlib import Path

from liveavatar.errors import InputError, LiveAvatarError


def require_file(path: Path, what: str, hint: str, error: type[LiveAvatarError] = InputError) -> Path:
    """`path` if it is a file; else `error`: "{what} {path} is a folder; {hint}" or "... does not exist; {hint}"."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not a file; {hint}")
    if not path.is_file():
        raise error(f"{what} {path} does not exist; {hint}")
    return path
