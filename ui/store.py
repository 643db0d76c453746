"""AvatarStore: the gallery's avatars, kept as files in one folder across runs (no Qt here).

    <folder>/index.json       {"version": 1, "avatars": [{"id": "mona-lisa-3f2a", "name": "Mona Lisa"}, ...]}
    <folder>/<id>.avatar      one avatar file each (liveavatar.avatar format)

The index holds the order and the display names (a rename touches only the index); an avatar file
dropped into the folder by hand is picked up at the next load, and an index entry whose file is gone is
forgotten. Every write is atomic (temporary file, then rename), so a crash never leaves a half-written
index or avatar. Methods do file I/O: the app calls them from worker threads; a lock serialises them.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from liveavatar.avatar import Avatar, load_avatar, rebuild_command, save_avatar
from liveavatar.errors import InputError, LiveAvatarError
from liveavatar.files.jsonlimits import parse_json

INDEX = "index.json"
SUFFIX = ".avatar"
INDEX_VERSION = 1
MAX_NAME = 200
_UNSAFE_ID = re.compile(r"[/\\:\x00-\x1f\x7f]")  # separators (and a drive's colon), controls


@dataclass
class GalleryEntry:
    """One avatar of the gallery. avatar is None when its file cannot be read; problem says why it cannot
    be used (unreadable, or built with another model), empty when it can."""

    id: str
    path: Path
    name: str
    avatar: Avatar | None
    problem: str = ""

    @property
    def usable(self) -> bool:
        return self.avatar is not None and not self.problem


def valid_id(entry_id: object) -> bool:
    """An id names a file directly inside the gallery folder: no separators, no "..", no hidden files.

    index.json is a file like any other: an id such as "../outside" must neither read nor delete outside."""
    return (
        isinstance(entry_id, str)
        and 0 < len(entry_id) <= MAX_NAME
        and not entry_id.startswith(".")
        and _UNSAFE_ID.search(entry_id) is None
    )


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    return f"{slug or 'avatar'}-{uuid.uuid4().hex[:6]}"


class AvatarStore:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ index

    def _read_index(self) -> list[dict[str, str]]:
        path = self.folder / INDEX
        if not path.is_file():
            return []
        try:
            data = parse_json(path.read_bytes(), f"gallery index {path}")
            entries = [e for e in data.get("avatars", []) if isinstance(e, dict) and valid_id(e.get("id"))]
        except (OSError, LiveAvatarError, AttributeError):
            return []  # a damaged index loses only names and order: the avatar files are still listed
        return [{"id": e["id"], "name": str(e.get("name", e["id"]))[:MAX_NAME]} for e in entries]

    def _write_index(self, entries: list[dict[str, str]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / INDEX
        tmp = path.with_name(INDEX + ".partial")
        tmp.write_text(json.dumps({"version": INDEX_VERSION, "avatars": entries}, indent=1), encoding="utf-8")
        tmp.replace(path)

    def _index_with_files(self) -> list[dict[str, str]]:
        """The index, less entries whose file is gone, plus avatar files not yet in it (by file name)."""
        entries = [e for e in self._read_index() if (self.folder / (e["id"] + SUFFIX)).is_file()]
        known = {e["id"] for e in entries}
        for path in sorted(self.folder.glob("*" + SUFFIX)):
            if path.stem not in known and valid_id(path.stem):
                entries.append({"id": path.stem, "name": ""})  # name filled from the file on load
        return entries

    # ------------------------------------------------------------------ operations

    def load_all(self, checkpoint_sha256: str | None) -> list[GalleryEntry]:
        """Every avatar in the folder, in gallery order. With a checkpoint hash, an avatar built with another
        model is listed with a problem (it can be deleted, not used)."""
        with self._lock:
            if not self.folder.is_dir():
                return []
            index = self._index_with_files()
            result = []
            for item in index:
                path = self.folder / (item["id"] + SUFFIX)
                try:
                    avatar = load_avatar(path)
                except LiveAvatarError as exc:
                    result.append(GalleryEntry(item["id"], path, item["name"] or item["id"], None, str(exc)))
                    continue
                except Exception as exc:  # a bug, but one file must never hide the whole gallery
                    problem = f"{path.name} could not be read ({exc!r}, a bug in LiveAvatar)"
                    result.append(GalleryEntry(item["id"], path, item["name"] or item["id"], None, problem))
                    continue
                name = item["name"] or avatar.name
                item["name"] = name
                avatar.name = name
                problem = ""
                if checkpoint_sha256 and avatar.checkpoint_sha256 != checkpoint_sha256:
                    model = f"the {avatar.preset} model, " if avatar.preset else ""
                    problem = (
                        f"{name} was built with another model ({model}{avatar.checkpoint_sha256[:12]}…); "
                        "add its portrait again to rebuild it for this one, or run "
                        + rebuild_command(avatar.sources, f"{name}.avatar")
                    )
                result.append(GalleryEntry(item["id"], path, name, avatar, problem))
            if index != self._read_index():
                self._write_index(index)
            return result

    def add(self, avatar: Avatar) -> GalleryEntry:
        """Saves a new avatar at the end of the gallery."""
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            entry_id = _slug(avatar.name)
            path = self.folder / (entry_id + SUFFIX)
            save_avatar(avatar, path)
            index = self._index_with_files()
            if not any(e["id"] == entry_id for e in index):
                index.append({"id": entry_id, "name": avatar.name})
            else:
                for e in index:
                    if e["id"] == entry_id:
                        e["name"] = avatar.name
            self._write_index(index)
            return GalleryEntry(entry_id, path, avatar.name, avatar)

    def rename(self, entry_id: str, name: str) -> str:
        name = " ".join(name.split())
        if not name:
            raise InputError("an avatar's name cannot be empty")
        with self._lock:
            index = self._index_with_files()
            for e in index:
                if e["id"] == entry_id:
                    e["name"] = name
                    break
            else:
                raise InputError(f"avatar {entry_id} is no longer in the gallery")
            self._write_index(index)
        return name

    def delete(self, entry_id: str) -> None:
        if not valid_id(entry_id):
            raise InputError(f"{entry_id!r} is not an avatar of this gallery")
        with self._lock:
            (self.folder / (entry_id + SUFFIX)).unlink(missing_ok=True)
            self._write_index([e for e in self._index_with_files() if e["id"] != entry_id])
