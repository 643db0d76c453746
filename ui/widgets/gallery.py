"""GalleryView: the avatars as a strip of thumbnails; click or press 1–9 to switch, drop portraits on it to
add one, double-click or F2 to rename, Delete or the context menu to delete.

It only shows entries and emits what the user asked for; the window does the work (on worker threads).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QStyledItemDelegate,
    QWidget,
)

from liveavatar.files.imageio import IMAGE_SUFFIXES

from ..store import GalleryEntry

ID_ROLE = Qt.ItemDataRole.UserRole
NAME_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB = 84


def thumbnail_icon(thumbnail: np.ndarray | None, usable: bool = True) -> QIcon:
    """128×128×3 uint8 RGB → an icon (greyed when the avatar cannot be used)."""
    if thumbnail is None:
        pix = QPixmap(THUMB, THUMB)
        pix.fill(Qt.GlobalColor.darkGray)
        return QIcon(pix)
    image = np.ascontiguousarray(thumbnail)
    qimage = QImage(image.data, image.shape[1], image.shape[0], int(image.strides[0]), QImage.Format.Format_RGB888)
    if not usable:
        qimage = qimage.convertToFormat(QImage.Format.Format_Grayscale8)
    return QIcon(QPixmap.fromImage(qimage.copy()))  # copy: the pixmap must not borrow the array


def image_paths(urls) -> list[Path]:
    """Local image files among dropped URLs."""
    paths = [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]
    return [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES]


class _RenameDelegate(QStyledItemDelegate):
    """Edits the name alone (the label also shows the 1–9 hotkey) and hands the result to the gallery
    instead of writing it into the item: the store renames, then the gallery shows the new name."""

    def __init__(self, gallery: GalleryView) -> None:
        super().__init__(gallery)
        self._gallery = gallery

    def setEditorData(self, editor, index) -> None:  # noqa: N802
        editor.setText(index.data(NAME_ROLE) or "")

    def setModelData(self, editor, model, index) -> None:  # noqa: N802
        name = " ".join(editor.text().split())
        if name and name != index.data(NAME_ROLE):
            self._gallery.rename_requested.emit(index.data(ID_ROLE), name)


class GalleryView(QListWidget):
    chosen = Signal(str)  # entry id
    rename_requested = Signal(str, str)  # entry id, new name
    delete_requested = Signal(str)
    portraits_dropped = Signal(list)  # list[Path]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("gallery")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 26, THUMB + 40))
        self.setWordWrap(True)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(False)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)
        self.setToolTip(
            "Your avatars. Click one or press 1–9 to switch; double-click or F2 to rename; "
            "drop portraits here to add one"
        )
        self._filling = False
        self.setItemDelegate(_RenameDelegate(self))
        self.currentItemChanged.connect(self._current_changed)
        delete = QAction("Delete", self)
        delete.setShortcut(QKeySequence.StandardKey.Delete)
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self._delete_current)
        self.addAction(delete)

    # ------------------------------------------------------------------ content

    def set_entries(self, entries: list[GalleryEntry], current_id: str | None) -> None:
        self._filling = True
        try:
            self.clear()
            for entry in entries:
                self._add_item(entry)
            self._renumber()
            self.select(current_id, emit=False)
        finally:
            self._filling = False

    def add_entry(self, entry: GalleryEntry) -> None:
        self._filling = True
        try:
            self._add_item(entry)
            self._renumber()
        finally:
            self._filling = False

    def remove_entry(self, entry_id: str) -> None:
        self._filling = True
        try:
            for row in range(self.count()):
                if self.item(row).data(ID_ROLE) == entry_id:
                    self.takeItem(row)
                    break
            self._renumber()
        finally:
            self._filling = False

    def set_name(self, entry_id: str, name: str) -> None:
        for row in range(self.count()):
            item = self.item(row)
            if item.data(ID_ROLE) == entry_id:
                item.setData(NAME_ROLE, name)
                item.setToolTip(f"{name}: click to drive it; double-click or F2 to rename")
        self._renumber()

    def name_of(self, entry_id: str) -> str:
        for row in range(self.count()):
            if self.item(row).data(ID_ROLE) == entry_id:
                return self.item(row).data(NAME_ROLE)
        return ""

    def _add_item(self, entry: GalleryEntry) -> None:
        item = QListWidgetItem(thumbnail_icon(entry.avatar.thumbnail if entry.avatar else None, entry.usable), "")
        item.setData(ID_ROLE, entry.id)
        item.setData(NAME_ROLE, entry.name)
        flags = item.flags() | Qt.ItemFlag.ItemIsEditable
        if not entry.usable:
            flags &= ~Qt.ItemFlag.ItemIsSelectable
        item.setFlags(flags)
        item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        tip = entry.problem or f"{entry.name}: click to drive it; double-click or F2 to rename"
        item.setToolTip(tip)
        self.addItem(item)

    def _renumber(self) -> None:
        for row in range(self.count()):
            item = self.item(row)
            name = item.data(NAME_ROLE) or ""
            item.setText(f"{row + 1} · {name}" if row < 9 else name)

    def ids(self) -> list[str]:
        return [self.item(row).data(ID_ROLE) for row in range(self.count())]

    def current_id(self) -> str | None:
        item = self.currentItem()
        return item.data(ID_ROLE) if item is not None else None

    def select(self, entry_id: str | None, emit: bool = True) -> None:
        was = self._filling
        self._filling = not emit
        try:
            for row in range(self.count()):
                if self.item(row).data(ID_ROLE) == entry_id:
                    self.setCurrentRow(row)
                    self.scrollToItem(self.item(row))
                    return
        finally:
            self._filling = was

    # ------------------------------------------------------------------ user actions

    def _current_changed(self, current: QListWidgetItem | None, _previous) -> None:
        if current is not None and not self._filling:
            self.chosen.emit(current.data(ID_ROLE))

    def _delete_current(self) -> None:
        entry_id = self.current_id()
        if entry_id is not None:
            self.delete_requested.emit(entry_id)

    def _context_menu(self, pos) -> None:
        item = self.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.editItem(item))
        menu.addAction("Delete", lambda: self.delete_requested.emit(item.data(ID_ROLE)))
        menu.exec(self.viewport().mapToGlobal(pos))

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if self.count() == 0:
            from PySide6.QtGui import QColor, QPainter

            painter = QPainter(self.viewport())
            painter.setPen(QColor("#9aa4b2"))
            painter.drawText(
                self.viewport().rect(),
                Qt.AlignmentFlag.AlignCenter,
                "No avatars yet: drop a portrait here (a photo or a painting), click “Add portrait…”, "
                "or “Try the sample portrait”",
            )
            painter.end()

    # ------------------------------------------------------------------ drops

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if image_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = image_paths(event.mimeData().urls())
        if paths:
            event.acceptProposedAction()
            self.portraits_dropped.emit(paths)
