"""AvatarLibrary: the gallery's data and work (load, build, import, rename, delete) on worker threads.

The window shows what it reports and asks it to do things; every file read or written here happens on a
worker thread: the store's I/O on `io` (one thread, so writes keep their order), builds on `builds`
(one at a time: a build uses all the cores it gets).
A portrait without a usable face does not stop anything: the build fails with one message for the
status area (NoFaceError's text names the file and what to do), and the next build can start.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from liveavatar.errors import LiveAvatarError
from liveavatar.models.checkpoint import Checkpoint

from .store import AvatarStore, GalleryEntry
from .tasks import Task, TaskPool


class AvatarLibrary(QObject):
    loaded = Signal(list)  # list[GalleryEntry], in gallery order
    added = Signal(object)  # GalleryEntry
    renamed = Signal(str, str)  # id, name
    deleted = Signal(str)
    build_started = Signal(str)  # what is being built ("Mona Lisa")
    build_progress = Signal(str, float)  # what is happening, fraction 0..1
    build_ended = Signal(bool)  # True when an avatar was added
    message = Signal(str, str, str)  # text, level ("info" | "warning" | "error"), detail

    def __init__(self, store: AvatarStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.io = TaskPool("avatar-io", threads=1)
        self.builds = TaskPool("avatar-build", threads=1)
        self.entries: dict[str, GalleryEntry] = {}
        self.order: list[str] = []
        self._build: Task | None = None

    # ------------------------------------------------------------------ queries

    def entry(self, entry_id: str | None) -> GalleryEntry | None:
        return self.entries.get(entry_id) if entry_id else None

    def usable_ids(self) -> list[str]:
        return [i for i in self.order if self.entries[i].usable]

    @property
    def building(self) -> bool:
        return self._build is not None

    # ------------------------------------------------------------------ work

    def load(self, checkpoint: Checkpoint | None) -> None:
        sha = checkpoint.sha256 if checkpoint is not None else None
        self.io.submit(
            lambda task: self.store.load_all(sha),
            on_done=self._loaded,
            on_failed=self._failed("the avatar gallery could not be read"),
            name="load gallery",
        )

    def _loaded(self, entries: list[GalleryEntry]) -> None:
        self.entries = {e.id: e for e in entries}
        self.order = [e.id for e in entries]
        self.loaded.emit(entries)
        problems = [e.problem for e in entries if e.problem]
        unreadable = sum(e.avatar is None for e in entries)
        if problems:
            what = f"{len(problems)} avatar(s) cannot be used"
            what += f" ({unreadable} damaged)" if unreadable else " with this model"
            self.message.emit(f"{what}; add their portraits again to rebuild them", "warning", "\n".join(problems))

    def build(self, portraits: list[Path], checkpoint: Checkpoint, name: str | None = None) -> bool:
        """Builds one avatar from one or more portraits of the same person; False if a build is running."""
        from liveavatar.engines.embedder import build_avatar

        if self._build is not None:
            self.message.emit("An avatar is being built; add the next one when it is done", "info", "")
            return False
        portraits = [Path(p) for p in portraits]
        label = name or portraits[0].stem.replace("_", " ")

        def work(task: Task) -> GalleryEntry:
            avatar = build_avatar(portraits, checkpoint, name=label, progress=task.progress)
            task.progress("saving", 1.0)
            return self.store.add(avatar)

        self._build = self.builds.submit(
            work,
            on_done=self._built,
            on_failed=self._build_failed,
            on_progress=self.build_progress.emit,
            on_cancelled=lambda: self._build_over(False),
            name=f"build {label}",
        )
        self.build_started.emit(label)
        return True

    def cancel_build(self) -> None:
        if self._build is not None:
            self._build.cancel()

    def _built(self, entry: GalleryEntry) -> None:
        self.entries[entry.id] = entry
        self.order.append(entry.id)
        self.added.emit(entry)
        for note in entry.avatar.notes if entry.avatar is not None else ():  # a built entry has its avatar
            self.message.emit(note, "info", "")
        self._build_over(True)

    def _build_failed(self, exc: Exception, trace: str) -> None:
        if isinstance(exc, LiveAvatarError):
            self.message.emit(f"No avatar was made: {exc}", "error", "")
        else:
            self.message.emit(f"No avatar was made: {exc!r} (a bug)", "error", trace)
        self._build_over(False)

    def _build_over(self, ok: bool) -> None:
        self._build = None
        self.build_ended.emit(ok)

    def import_files(self, paths: list[Path], checkpoint_sha256: str | None) -> None:
        """Copies .avatar files into the gallery (they must belong to the loaded model)."""
        from liveavatar.avatar import load_avatar

        def work(task: Task) -> list[GalleryEntry]:
            return [self.store.add(load_avatar(p, checkpoint_sha256)) for p in paths]

        def done(entries: list[GalleryEntry]) -> None:
            for entry in entries:
                self._built_silently(entry)

        self.io.submit(work, on_done=done, on_failed=self._failed("the avatar could not be imported"))

    def _built_silently(self, entry: GalleryEntry) -> None:
        self.entries[entry.id] = entry
        self.order.append(entry.id)
        self.added.emit(entry)

    def add_session_entry(self, entry: GalleryEntry) -> None:
        """An avatar opened from a file for this session only (`liveavatar app --avatar`): shown, not stored."""
        self._built_silently(entry)

    def rename(self, entry_id: str, name: str) -> None:
        entry = self.entries.get(entry_id)
        if entry is None:
            return

        def done(new_name: str) -> None:
            entry.name = new_name
            if entry.avatar is not None:
                entry.avatar.name = new_name  # the live view's caption follows
            self.renamed.emit(entry_id, new_name)

        if entry.path.parent != self.store.folder:  # a session entry: nothing on disk to change
            done(" ".join(name.split()))
            return
        self.io.submit(
            lambda task: self.store.rename(entry_id, name),
            on_done=done,
            on_failed=self._failed("the avatar could not be renamed"),
        )

    def delete(self, entry_id: str) -> None:
        entry = self.entries.pop(entry_id, None)
        if entry is None:
            return
        self.order.remove(entry_id)
        self.deleted.emit(entry_id)
        if entry.path.parent == self.store.folder:
            self.io.submit(
                lambda task: self.store.delete(entry_id), on_failed=self._failed("the avatar file could not be deleted")
            )

    def _failed(self, what: str):
        def failed(exc: Exception, trace: str) -> None:
            if isinstance(exc, LiveAvatarError):
                self.message.emit(f"{what}: {exc}", "error", "")
            else:
                self.message.emit(f"{what}: {exc!r} (a bug)", "error", trace)

        return failed

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Cancels a build (no partial avatar is ever saved: save_avatar is atomic) and waits for the I/O."""
        ok = self.builds.shutdown(timeout_s)
        return self.io.wait(timeout_s) and ok
