"""GalleryActions: what the user does with the gallery (choose, add, build, delete, rename, the sample).

A part of the window that gets the widgets it drives and callbacks into the window, never the window itself
(the window imports its parts; a part importing the window back would be a circle). The work is
AvatarLibrary's, on its worker threads; this part turns clicks into its calls and its signals into the
gallery, the build header and the status area.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from liveavatar.errors import LiveAvatarError
from liveavatar.models.checkpoint import Checkpoint

from .library import AvatarLibrary
from .store import GalleryEntry
from .tasks import TaskPool
from .widgets.avatars_header import AvatarsHeader
from .widgets.gallery import GalleryView

IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff)"


class GalleryActions:
    """checkpoint(): the loaded model or None; avatar_chosen(avatar or None): the window runs it;
    remembered_avatar(): the id saved at the last close; gallery_ready(): a load has finished, before the
    avatar is chosen; refresh(): after it (the window's placeholders);
    first_avatar_file: `--avatar FILE`, chosen once the gallery has loaded."""

    def __init__(
        self,
        parent: QWidget,
        library: AvatarLibrary,
        gallery: GalleryView,
        loader: TaskPool,
        post: Callable[..., object],
        header: AvatarsHeader,
        *,
        checkpoint: Callable[[], Checkpoint | None],
        avatar_chosen: Callable[[object], None],
        remembered_avatar: Callable[[], str],
        gallery_ready: Callable[[], None],
        refresh: Callable[[], None],
        first_avatar_file: Path | None,
    ) -> None:
        self.parent = parent
        self.library = library
        self.gallery = gallery
        self.loader = loader
        self.post = post
        self.header = header
        self.checkpoint = checkpoint
        self.avatar_chosen = avatar_chosen
        self.remembered_avatar = remembered_avatar
        self.gallery_ready = gallery_ready
        self.refresh = refresh
        self.first_avatar_file = first_avatar_file
        self.loaded = False  # the first gallery load has finished: "no avatar" is then a fact
        lib = library
        lib.loaded.connect(self._on_gallery_loaded)
        lib.added.connect(self._on_avatar_added)
        lib.renamed.connect(gallery.set_name)
        lib.deleted.connect(self._on_avatar_deleted)
        lib.build_started.connect(self._on_build_started)
        lib.build_progress.connect(header.build_progress)
        lib.build_ended.connect(self._on_build_ended)
        lib.message.connect(lambda text, level, detail: self.post(text, level, detail))
        gallery.chosen.connect(self.choose_avatar)
        gallery.rename_requested.connect(lib.rename)
        gallery.delete_requested.connect(self.delete_avatar)
        gallery.portraits_dropped.connect(self.add_portraits)
        header.add_button.clicked.connect(self.add_portraits_dialog)
        header.sample_button.clicked.connect(self.add_sample_portrait)
        header.cancel_build.clicked.connect(lib.cancel_build)

    def _sha(self) -> str | None:
        checkpoint = self.checkpoint()
        return checkpoint.sha256 if checkpoint else None

    def _on_gallery_loaded(self, entries: list[GalleryEntry]) -> None:
        first = not self.loaded
        self.loaded = True
        wanted = self.remembered_avatar()
        usable = self.library.usable_ids()
        current = wanted if wanted in usable else (usable[0] if usable else None)
        self.gallery.set_entries([self.library.entries[i] for i in self.library.order], current)
        self.update_sample_offer()
        self.gallery_ready()  # from now on "no avatar" is a fact, not a moment of startup
        if first and self.first_avatar_file is not None:
            self._open_avatar_file(self.first_avatar_file)  # chosen when loaded
        else:
            self.choose_avatar(current)
        self.refresh()

    def _open_avatar_file(self, path: Path) -> None:
        """`--avatar FILE`: added to the gallery for this session and chosen, not copied into the store."""
        from liveavatar.avatar import load_avatar

        sha = self._sha()

        def done(avatar) -> None:
            entry = GalleryEntry(f"file:{path}", Path(path), avatar.name, avatar)
            self.library.add_session_entry(entry)  # _on_avatar_added shows and chooses it

        self.loader.submit(lambda task: load_avatar(path, sha), on_done=done, on_failed=self.post_error)

    def choose_avatar(self, entry_id: str | None) -> None:
        entry = self.library.entry(entry_id)
        if entry is not None and not entry.usable:
            self.post(entry.problem, "warning", key="avatar-problem")
            return
        if entry is not None and self.gallery.current_id() != entry_id:
            self.gallery.select(entry_id, emit=False)
        self.avatar_chosen(entry.avatar if entry else None)

    def delete_avatar(self, entry_id: str, confirm: bool = True) -> None:
        """Deletes an avatar from the gallery and from disk, after asking (it cannot be undone)."""
        from PySide6.QtWidgets import QMessageBox

        entry = self.library.entry(entry_id)
        if entry is None:
            return
        if confirm:
            answer = QMessageBox.question(
                self.parent,
                "Delete avatar",
                f"Delete {entry.name}? Its portrait files are not touched; the avatar can be rebuilt from them.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.library.delete(entry_id)

    def choose_avatar_number(self, n: int) -> None:
        ids = self.gallery.ids()
        if n <= len(ids):
            self.choose_avatar(ids[n - 1])

    def post_error(self, exc: Exception, trace: str) -> None:
        """A worker's failure in the status area: the user's own problem in one line, a bug with its trace."""
        self.post(str(exc), "error", trace if not isinstance(exc, LiveAvatarError) else "")

    def rename_current(self) -> None:
        item = self.gallery.currentItem()
        if item is not None:
            self.gallery.editItem(item)

    def add_portraits_dialog(self) -> None:
        if self.checkpoint() is None:
            self.post("Open a model first: avatars are built with it", "warning")
            return
        paths, _ = QFileDialog.getOpenFileNames(
            self.parent, "Choose one or more images of one person", "", IMAGE_FILTER
        )
        if paths:
            self.add_portraits([Path(p) for p in paths])

    def add_portraits(self, paths: list[Path], name: str | None = None) -> None:
        checkpoint = self.checkpoint()
        if checkpoint is None:
            self.post("Open a model first: avatars are built with it", "warning")
            return
        self.library.build(paths, checkpoint, name=name)

    def import_avatar_files(self, paths: list[Path]) -> None:
        self.library.import_files(paths, self._sha())

    def add_sample_portrait(self) -> None:
        """The one-click first avatar: the sample portrait, built on the worker like any other."""
        from liveavatar.sample import SAMPLE_NAME, sample_portrait

        try:
            path = sample_portrait()
        except LiveAvatarError as exc:
            self.post(str(exc), "error")
            return
        self.add_portraits([path], name=SAMPLE_NAME)

    def update_sample_offer(self) -> None:
        self.header.sample_button.setVisible(self.gallery.count() == 0 and not self.library.building)
        self.header.sample_button.setEnabled(self.checkpoint() is not None and not self.library.building)

    def _on_build_started(self, name: str) -> None:
        self.header.build_started(name)
        self.update_sample_offer()

    def _on_build_ended(self, ok: bool) -> None:
        self.header.build_ended(can_add=self.checkpoint() is not None)
        self.update_sample_offer()

    def _on_avatar_added(self, entry: GalleryEntry) -> None:
        self.gallery.add_entry(entry)
        self.update_sample_offer()
        self.choose_avatar(entry.id)  # a new avatar is one the user wants to see now

    def _on_avatar_deleted(self, entry_id: str) -> None:
        was_current = self.gallery.current_id() == entry_id
        self.gallery.remove_entry(entry_id)
        self.update_sample_offer()
        if was_current:
            usable = self.library.usable_ids()
            self.choose_avatar(usable[0] if usable else None)
