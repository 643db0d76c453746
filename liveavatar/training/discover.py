"""Finding training videos under a folder and naming the person in each.

Grouping: the VoxCeleb layout `…/<person id>/<video id>/<clip>.mp4` (a clip at least three levels below
the root) makes the folder two levels above the clip the person and the folder above it the video, so
clips of one YouTube video and all videos of one id share a person. Any other layout (a flat folder, or
`person/clip.mp4` one level down) makes every file its own person: without the VoxCeleb structure we
cannot know that two files show one person, and a wrong merge would leak a held-out face into training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from liveavatar.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".webm")


@dataclass(frozen=True)
class VideoItem:
    """One video to prepare. `key` is its path relative to the root (POSIX), unique within the root."""

    path: Path
    key: str
    person: str
    video: str


def find_videos(root: str | Path) -> list[VideoItem]:
    """Every video under `root`, recursively, sorted by key; InputError if there is none."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root}: no such folder; give the folder that holds your training videos")
    if not root.is_dir():
        raise InputError(f"{root}: is a file, not a folder; give the folder that holds your training videos")
    items = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file() or path.name.startswith("."):
            continue
        rel = path.relative_to(root)
        parts = rel.parts
        if len(parts) >= 3:
            person, video = parts[-3], parts[-2]
        else:
            person = video = rel.with_suffix("").as_posix().replace("/", "_")
        items.append(VideoItem(path=path, key=rel.as_posix(), person=person, video=video))
    if not items:
        anything = next(root.iterdir(), None) is not None
        what = "holds no video files" if anything else "is empty"
        raise InputError(
            f"{root} {what} (looked recursively for {', '.join(VIDEO_SUFFIXES)}); "
            "point prepare at a folder of talking-head videos"
        )
    return items
