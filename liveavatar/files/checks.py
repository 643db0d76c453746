"""Files checked before the work (require_file: an input named on the command line is a file, not a folder).

Destinations checked before the work: a verb that writes a file or a folder finds out at once, not after
minutes of work, that the path is a folder (or a file), that its folder is missing or read-only, or that the
disk is nearly full. Each refusal is one InputError naming the flag, the path and what to do.

Writability is tested by creating (and removing) a probe file, not with os.access: access() answers yes to
root on a read-only mount and ignores ACLs.

What a verb saves never replaces a file (the recorder's rule, for every verb that writes): it is written
under a name of its own, then given its real name with a hard link, or NAME-1.ext, NAME-2.ext, … when that
is taken (`save_new_file`, `link_to_free_name`); the verb says where it went. A write that fails (a full
disk) leaves no partial file and is one InputError.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from liveavatar.errors import InputError, LiveAvatarError

_MB = 1 << 20


def check_output_file(path: Path, flag: str, force: bool = False, needed_bytes: int = 0) -> None:
    """`path` can be written as a new file (or replaced, with force): not a folder, its folder exists and
    is writable, and has `needed_bytes` free."""
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"{flag} {path} is a folder; name a file in it, e.g. {path / ('output' + (path.suffix or ''))}"
        )
    if path.exists() and not force:
        raise InputError(f"{path} already exists; choose another {flag} or add --force to replace it")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{flag} {path}: {folder} is a file, not a folder")
    if not folder.is_dir():
        raise InputError(f"{flag} {path}: folder {folder} does not exist; create it first")
    check_writable(folder, flag, path, needed_bytes)


def check_output_folder(path: Path, flag: str, needed_bytes: int = 0) -> None:
    """`path` is (or can be created as) a writable folder with `needed_bytes` free."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} is a file; {flag} names a folder (created if needed)")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{flag} {path}: {existing} is a file, not a folder")
    check_writable(existing, flag, path, needed_bytes)


def check_writable(folder: Path, flag: str, target: Path, needed_bytes: int = 0) -> None:
    try:
        fd, probe = tempfile.mkstemp(prefix=".liveavatar-write-check-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(
            f"{flag} {target}: cannot write in {folder} ({exc.strerror or exc}); choose a folder you can write to"
        ) from None
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise InputError(
            f"{flag} {target}: only {free / _MB:.0f} MB free in {folder}, about {needed_bytes / _MB:.0f} MB needed; "
            "free some space or choose another folder"
        )


def link_to_free_name(tmp: Path, path: Path) -> Path:
    """Gives tmp the name path, or NAME-1.mp4, NAME-2.mp4, … if taken; never replaces an existing file.
    A hard link is atomic (two writers cannot both get one name); without hard links (FAT, some network
    folders) a checked rename, which leaves a tiny window between the check and the rename."""
    for n in range(10_000):
        candidate = path if n == 0 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            os.link(tmp, candidate)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if candidate.exists():
                continue
            tmp.rename(candidate)
            return candidate
        tmp.unlink()
        return candidate
    raise LiveAvatarError(f"cannot save {path}: {path.stem}-1 … -9999{path.suffix} all exist")


def save_new_file(path: Path, write: Callable[[Path], object], flag: str = "-o") -> Path:
    """Calls write(tmp) for a name of its own beside `path` (same suffix), then gives the file the name
    `path`, or NAME-1.ext … when taken: nothing is ever overwritten, not even the verb's own input. Returns
    the name it got. A failed write (full disk, I/O error) removes the partial file and is one InputError."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(3)}.partial{path.suffix}")
    try:
        write(tmp)
        return link_to_free_name(tmp, path)
    except OSError as exc:
        what = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise InputError(f"{flag} {path}: cannot write it ({what}); free some space or choose another folder") from None
    finally:
        tmp.unlink(missing_ok=True)


def saved_note(saved: Path, asked: Path) -> str:
    """What a verb prints after the name it saved to: why it is not the name asked for, if it is not."""
    return "" if Path(saved) == Path(asked) else f" ({asked} already exists: nothing is ever overwritten)"


def require_file(path: Path, what: str, hint: str, error: type[LiveAvatarError] = InputError) -> Path:
    """`path` if it is a file; else `error`: "{what} {path} is a folder; {hint}" or "... does not exist; {hint}"."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder, not a file; {hint}")
    if not path.is_file():
        raise error(f"{what} {path} does not exist; {hint}")
    return path
